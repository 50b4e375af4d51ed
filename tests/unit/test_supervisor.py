import sys

from backend.config import load_settings
from backend.supervisor import Proc, rasa_env, run_all


def test_crashed_process_is_reported_and_the_others_stopped(capsys):
    sleeper = Proc("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
    crasher = Proc(
        "crasher", [sys.executable, "-c", "import time, sys; time.sleep(0.5); sys.exit(3)"]
    )
    code = run_all(load_settings({}, dotenv=False), procs=[sleeper, crasher])
    assert code == 1
    assert "process 'crasher' exited with code 3" in capsys.readouterr().err
    assert sleeper.popen.poll() is not None  # stopped, not left behind


def test_rasa_env_uses_backend_database_and_redis_lock_store(monkeypatch):
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    env = rasa_env(
        load_settings(
            {
                "DATABASE_URL": "postgresql://u:p@db:5432/hts",
                "REDIS_URL": "redis://:pw@cache:6380/2",
                "RASA_WORKERS": "2",
                "ACTION_WORKERS": "3",
            },
            dotenv=False,
        )
    )
    assert env["TRACKER_DB_URL"] == "postgresql://u:p@db:5432/hts"
    assert (
        env["LOCK_STORE_TYPE"],
        env["LOCK_REDIS_HOST"],
        env["LOCK_REDIS_PORT"],
        env["LOCK_REDIS_DB"],
    ) == ("backend.rasa_ext.lock_store.AtomicRedisLockStore", "cache", "6380", "2")
    assert (env["SANIC_WORKERS"], env["ACTION_SERVER_SANIC_WORKERS"]) == ("2", "3")
    assert env["TF_NUM_INTRAOP_THREADS"] == "1"  # the encoder runs on each worker's own thread
    default = rasa_env(load_settings({}, dotenv=False))
    assert default["LOCK_STORE_TYPE"] == "in_memory" and default["TRACKER_DB_URL"].startswith(
        "sqlite:///"
    )
