"""Shared fixtures: migrated SQLite per test, a fresh Postgres database when available."""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import text

from backend import migrations
from backend.config import load_settings
from backend.db import make_engine, make_session_factory

# Tests never read the developer's .env: every setting comes from the test itself.
os.environ["HTS_ENV_FILE"] = "/nonexistent/.env"


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def settings(db_url):
    return load_settings({"DATABASE_URL": db_url, "TAX_RATE_PERCENT": "0"}, dotenv=False)


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url)
    migrations.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine):
    return make_session_factory(engine)


@pytest.fixture
def session(session_factory):
    s = session_factory()
    yield s
    s.rollback()
    s.close()


def postgres_url_or_skip() -> str:
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        pytest.skip("TEST_POSTGRES_URL is not set: Postgres tests skipped (.ci/run sets it)")
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """TEST_REDIS_URL, or a skip that says why (.ci/run sets it)."""
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL is not set: Redis tests skipped (.ci/run sets it)")
    import redis

    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at TEST_REDIS_URL is unreachable: {type(exc).__name__}")
    return url


@pytest.fixture
def pg_url():
    """A fresh, empty Postgres database for one test; dropped afterwards."""
    base = postgres_url_or_skip()
    name = f"hts_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        admin.dispose()
        pytest.skip(f"Postgres at TEST_POSTGRES_URL is unreachable: {type(exc).__name__}")
    parts = urlsplit(base)
    yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_engine(pg_url):
    eng = make_engine(pg_url)
    migrations.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def pg_session_factory(pg_engine):
    return make_session_factory(pg_engine)
