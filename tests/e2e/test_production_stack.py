"""The production configuration: Postgres tracker store + Redis lock store + two Sanic workers.

Starts `rasa run` exactly as `backend up` does (the project's endpoints.yml and credentials.yml,
environment from backend.supervisor.rasa_env) with DATABASE_URL on a fresh Postgres database
and REDIS_URL set, plus the action server, then checks that conversations are answered and that
their events land in Postgres. Rasa silently runs one worker without a shared lock store, so
two forked workers show the Redis lock store is in use.
"""

from __future__ import annotations

import subprocess

import pytest
import requests
from sqlalchemy import text

from backend import migrations
from backend.catalog.service import SAMPLE_CATALOG, load_catalog
from backend.config import ROOT, load_settings
from backend.db import make_engine, make_session_factory, session_scope
from backend.supervisor import rasa_env
from tests.helpers import (
    chat_env,
    chat_message,
    free_port,
    start_action_server,
    start_rasa,
    stop_group,
    wait_http,
    web_chat,
)

MODEL = ROOT / "models" / "current.tar.gz"
pytestmark = [pytest.mark.rasa, pytest.mark.postgres, pytest.mark.redis]


def test_two_workers_postgres_tracker_and_redis_lock_store(pg_url, redis_url, tmp_path):
    if not MODEL.exists():
        pytest.skip("models/current.tar.gz is missing: run `make train` (scripts/test.sh does)")
    engine = make_engine(pg_url)
    migrations.upgrade(engine)
    with session_scope(make_session_factory(engine)) as session:
        load_catalog(session, source=str(SAMPLE_CATALOG))
    action_port, rasa_port = free_port(), free_port()
    settings = load_settings(
        {
            "DATABASE_URL": pg_url,
            "REDIS_URL": redis_url,
            "ACTION_SERVER_URL": f"http://127.0.0.1:{action_port}",
        },
        dotenv=False,
    )
    env = {
        **rasa_env(settings),
        **chat_env(),
        "RATE_LIMIT_CHAT_PER_SENDER": "3",  # counted in Redis, across both workers
        "HTS_ENV_FILE": "/nonexistent/.env",
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "SANIC_WORKERS": "2",
    }
    assert env["LOCK_STORE_TYPE"] == "backend.rasa_ext.lock_store.AtomicRedisLockStore"
    actions = start_action_server(
        action_port, env={**env, "SANIC_WORKERS": "1"}, log=tmp_path / "actions.log"
    )
    rasa = start_rasa(
        rasa_port,
        env=env,
        log=tmp_path / "rasa.log",
        model=MODEL,
        endpoints=ROOT / "endpoints.yml",
        credentials=ROOT / "credentials.yml",
    )
    try:
        wait_http(f"http://127.0.0.1:{action_port}/health", timeout=120, proc=actions)
        wait_http(f"http://127.0.0.1:{rasa_port}/", timeout=240, proc=rasa)
        url = f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook"
        chats = [web_chat() for _ in range(4)]
        senders = [chat.sender for chat in chats]
        for chat in chats:
            for message in ("hi", "what products do you have"):
                reply = requests.post(url, json=chat_message(chat, message), timeout=60)
                assert reply.status_code == 200 and reply.json(), (message, reply.text)
        # The per-chat quota is shared by the two workers (Redis): the 4th message is refused
        # whichever worker takes it, with a fresh connection each time.
        chat = web_chat()
        answers = [
            requests.post(url, json=chat_message(chat, "hi"), timeout=60).status_code
            for _ in range(3)
        ]
        refused = requests.post(url, json=chat_message(chat, "hi"), timeout=60)
        assert answers == [200, 200, 200]
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        with engine.connect() as conn:
            stored = conn.execute(
                text("SELECT sender_id, count(*) FROM events GROUP BY sender_id")
            ).all()
        counts = dict(stored)
        assert set(senders) <= set(counts)
        assert all(counts[s] >= 4 for s in senders)  # user + bot events of two turns each
        # Sanic really forked two workers (Rasa silently falls back to one without Redis)
        workers = subprocess.run(
            ["ps", "--ppid", str(rasa.pid), "-o", "pid="], capture_output=True, text=True
        ).stdout.split()
        assert len(workers) >= 2, (tmp_path / "rasa.log").read_text()[-2000:]
    finally:
        for proc in (rasa, actions):
            stop_group(proc)
        engine.dispose()
