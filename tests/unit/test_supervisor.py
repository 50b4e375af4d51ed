import sys

import pytest

from backend.config import ConfigError, load_settings
from backend.supervisor import Proc, processes, rasa_env, run_all


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


def rasa_argv(**env: str) -> list[str]:
    settings = load_settings(
        {"RASA_TOKEN": "rasa-token-0123456789", "CHAT_ID_SECRET": "chat-secret-0123456789", **env},
        dotenv=False,
    )
    [rasa] = [p for p in processes(settings) if p.name == "rasa"]
    return rasa.argv


def option(argv: list[str], name: str) -> str:
    assert argv.count(name) == 1, name
    return argv[argv.index(name) + 1]


def test_rasa_api_always_needs_the_token_and_cors_allows_only_the_shop():
    argv = rasa_argv(PUBLIC_BASE_URL="https://shop.example.org/base/")
    assert option(argv, "--auth-token") == "rasa-token-0123456789"
    assert option(argv, "--cors") == "https://shop.example.org"
    assert "*" not in argv
    assert option(rasa_argv(), "--cors") == "http://127.0.0.1:8000"


@pytest.mark.parametrize("missing", ["RASA_TOKEN", "CHAT_ID_SECRET"])
def test_without_rasa_token_or_chat_secret_nothing_starts(missing):
    values = {"RASA_TOKEN": "rasa-token-0123456789", "CHAT_ID_SECRET": "chat-secret-0123456789"}
    del values[missing]
    with pytest.raises(ConfigError, match=missing):
        processes(load_settings(values, dotenv=False))


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"RASA_TOKEN": "short"}, "RASA_TOKEN must be at least"),
        ({"CHAT_ID_SECRET": "short"}, "CHAT_ID_SECRET must be at least"),
        ({"PUBLIC_BASE_URL": "shop.example.org"}, "PUBLIC_BASE_URL"),
        ({"CHAT_MAX_MESSAGE_CHARS": "0"}, "CHAT_MAX_MESSAGE_CHARS"),
        ({"RATE_LIMIT_CHAT_PER_IP": "-1"}, "RATE_LIMIT_CHAT_PER_IP"),
        (
            {
                "APP_ENV": "production",
                "SESSION_SECRET": "s" * 32,
                "PSEUDONYM_KEY": "k" * 32,
                "RASA_TOKEN": "r" * 32,
                "ADMIN_PASSWORD": "p" * 16,
            },
            "CHAT_ID_SECRET is required",
        ),
    ],
)
def test_hardening_settings_are_strict(env, problem):
    with pytest.raises(ConfigError, match=problem):
        load_settings(env, dotenv=False)


def test_one_process_kind_runs_as_up_starts_it_listening_on_bind_host(monkeypatch, tmp_path):
    from backend import supervisor

    started = {}
    monkeypatch.setattr(supervisor.os, "chdir", lambda path: None)
    monkeypatch.setattr(
        supervisor.os, "execve", lambda path, argv, env: started.update(argv=argv, env=env)
    )
    settings = load_settings(
        {
            "RASA_TOKEN": "rasa-token-0123456789",
            "CHAT_ID_SECRET": "chat-secret-0123456789",
            "BIND_HOST": "0.0.0.0",
            "REDIS_URL": "redis://cache:6379/0",
            "DATABASE_URL": "postgresql://u@db/hts",
        },
        dotenv=False,
    )
    up = {p.name: p.argv for p in processes(settings)}
    for kind in supervisor.PROCESS_KINDS:
        supervisor.exec_process(kind, settings)
        expected = up.get(kind) or [sys.executable, "-m", "backend", "outbox", "work"]
        assert started["argv"] == expected, kind
        assert started["env"]["TRACKER_DB_URL"] == "postgresql://u@db/hts"
    assert option(up["rasa"], "-i") == "0.0.0.0"
    assert started["env"]["SANIC_HOST"] == "0.0.0.0"  # the action server's address
    assert option(rasa_argv(), "-i") == "127.0.0.1"  # the default: loopback only
