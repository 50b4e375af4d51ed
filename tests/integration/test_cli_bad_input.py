from tests.helpers import backend_cli


def test_malformed_database_url_is_one_clear_line():
    result = backend_cli("db", "upgrade", env={"DATABASE_URL": "mysql://nope"})
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: DATABASE_URL must start with")
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_postgres_is_one_clear_line_and_hides_password():
    url = "postgresql://hts:s3cretpw@127.0.0.1:1/hts"
    result = backend_cli("db", "upgrade", env={"DATABASE_URL": url})
    assert result.returncode == 2
    line = result.stderr.strip()
    assert line.startswith("error: cannot connect to database postgresql://hts:***@127.0.0.1:1/hts")
    assert "s3cretpw" not in result.stderr + result.stdout
    assert len(line.splitlines()) == 1


def test_db_upgrade_creates_the_sqlite_database(tmp_path):
    db = tmp_path / "sub" / "hts.db"
    result = backend_cli("db", "upgrade", env={"DATABASE_URL": f"sqlite:///{db}"})
    assert result.returncode == 0, result.stderr
    assert db.exists()
    again = backend_cli("ledger", "verify", env={"DATABASE_URL": f"sqlite:///{db}"})
    assert again.returncode == 0 and "ledger ok: 0 entries" in again.stdout


def test_a_scheduler_for_an_unknown_job_names_the_known_ones_and_does_not_start(tmp_path):
    db = f"sqlite:///{tmp_path / 'hts.db'}"
    assert backend_cli("db", "upgrade", env={"DATABASE_URL": db}).returncode == 0
    result = backend_cli("scheduler", "--only", "outbox,nope", env={"DATABASE_URL": db})
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: unknown job nope; known: ")
    assert "outbox" in result.stderr
