"""`backend staff …` end to end: ensure-admin, create, api-key, list (real processes, SQLite)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from backend.auth import service
from backend.config import ROOT
from backend.db import make_engine, make_session_factory, session_scope


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    db_url = f"sqlite:///{tmp_path / 'staff.db'}"
    env = {**os.environ, "HTS_ENV_FILE": "/nonexistent/.env", "DATABASE_URL": db_url}
    env.pop("ADMIN_PASSWORD", None)
    assert staff_cli(env, "db", "upgrade", prefix=False).returncode == 0
    return env


def staff_cli(env, *args, stdin: str = "", prefix: bool = True) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "backend", *(("staff",) if prefix else ()), *args]
    return subprocess.run(  # noqa: S603
        command, cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


def authenticate(env, email: str, password: str):
    engine = make_engine(env["DATABASE_URL"])
    try:
        with session_scope(make_session_factory(engine)) as session:
            staff = service.authenticate(session, email=email, password=password)
            return staff and staff.role
    finally:
        engine.dispose()


def test_ensure_admin_prints_a_generated_password_once(env):
    first = staff_cli(env, "ensure-admin")
    assert first.returncode == 0, first.stderr
    password = first.stdout.split("with password: ")[1].split()[0]
    assert authenticate(env, "admin@example.com", password) == "admin"
    again = staff_cli(env, "ensure-admin")
    assert (
        again.returncode == 0 and "already exists" in again.stdout and password not in again.stdout
    )


def test_ensure_admin_uses_admin_password_and_never_prints_it(env):
    env = {**env, "ADMIN_EMAIL": "owner@shop.example", "ADMIN_PASSWORD": "owner-password-1"}
    result = staff_cli(env, "ensure-admin")
    assert result.returncode == 0 and "owner-password-1" not in result.stdout + result.stderr
    assert authenticate(env, "owner@shop.example", "owner-password-1") == "admin"


def test_create_api_key_and_list(env):
    args = ("create", "--email", "sam@shop.example", "--name", "Sam", "--role", "sales")
    created = staff_cli(env, *args, "--password-stdin", stdin="sales-password-1\n")
    assert created.returncode == 0, created.stderr
    assert authenticate(env, "sam@shop.example", "sales-password-1") == "sales"

    duplicate = staff_cli(env, *args, "--password-stdin", stdin="sales-password-1\n")
    assert duplicate.returncode == 2
    assert duplicate.stderr.strip() == "error: a staff user with this email already exists"

    key = staff_cli(env, "api-key", "sam@shop.example").stdout.strip()
    engine = make_engine(env["DATABASE_URL"])
    with session_scope(make_session_factory(engine)) as session:
        assert service.resolve_api_key(session, key).email == "sam@shop.example"
    engine.dispose()

    listing = staff_cli(env, "list").stdout
    assert "sam@shop.example" in listing and "sales" in listing and key not in listing


def test_create_without_password_source_fails_clearly(env):
    args = ("create", "--email", "x@shop.example", "--name", "X", "--role", "executive")
    result = staff_cli(env, *args)  # stdin is not a terminal and ADMIN_PASSWORD is unset
    assert result.returncode == 2 and "use --password-stdin" in result.stderr
