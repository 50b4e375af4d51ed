import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DatabaseError as SADatabaseError

import backend.models  # noqa: F401
from backend import migrations
from backend.db import Base, make_engine


def _assert_schema_matches_models(engine):
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def _assert_ledger_refuses_changes(engine):
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ledger_entries (seq, entity_type, entity_id, action, record_hash, "
                "prev_hash, entry_hash, created_at) "
                "VALUES (1, 't', '1', 'a', 'r', 'p', 'e', 'now')"
            )
        )
    for statement in ("UPDATE ledger_entries SET action = 'x'", "DELETE FROM ledger_entries"):
        with pytest.raises(SADatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))


def test_upgrade_from_empty_on_sqlite(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrations.upgrade(engine)
    _assert_schema_matches_models(engine)
    _assert_ledger_refuses_changes(engine)
    migrations.downgrade(engine)
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    migrations.upgrade(engine)  # and back up again
    _assert_schema_matches_models(engine)


@pytest.mark.postgres
def test_upgrade_from_empty_on_postgres(pg_url):
    engine = make_engine(pg_url)
    migrations.upgrade(engine)
    _assert_schema_matches_models(engine)
    _assert_ledger_refuses_changes(engine)
    migrations.downgrade(engine)
    migrations.upgrade(engine)
    _assert_schema_matches_models(engine)
    engine.dispose()


def test_models_and_migrations_agree(tmp_path):
    """Autogenerate on a migrated database finds nothing: no model change lacks a migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(f"sqlite:///{tmp_path / 'cmp.db'}")
    migrations.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_identity_keys_are_backfilled_and_old_duplicates_merge(tmp_path):
    """contacts_0003 keys the newest record of each email/phone; `merge-duplicates` folds the
    older ones into it."""
    from backend.contacts.identity import merge_duplicates
    from backend.contacts.models import Contact
    from backend.db import make_session_factory

    engine = make_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    migrations.upgrade(engine, "contacts_0002")
    migrations.upgrade(engine, "crm_0002")
    with engine.begin() as conn:
        for public_id, email, phone in (
            ("a", "Jane@Example.com", None),
            ("b", "jane@example.com", "+14155550123"),
            ("c", None, "+14155550123"),
        ):
            conn.execute(
                text(
                    "INSERT INTO contacts (public_id, email, phone_e164, created_at, updated_at) "
                    "VALUES (:p, :e, :ph, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
                ),
                {"p": public_id, "e": email, "ph": phone},
            )
    migrations.upgrade(engine)
    with engine.connect() as conn:
        keys = conn.execute(
            text("SELECT public_id, email_key, phone_key FROM contacts ORDER BY public_id")
        ).all()
    assert [tuple(k) for k in keys] == [
        ("a", None, None),
        ("b", "jane@example.com", None),
        ("c", None, "+14155550123"),
    ]
    session = make_session_factory(engine)()
    assert merge_duplicates(session) == 1  # a folds into b (same email)
    session.commit()
    live = session.query(Contact).filter(Contact.merged_into_id.is_(None)).all()
    assert sorted(c.public_id for c in live) == ["b", "c"]
    session.close()
    engine.dispose()
