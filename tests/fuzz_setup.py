"""Prepare the database for scripts/schemathesis.sh: migrate DATABASE_URL, add sample rows
(leads, contacts, incidents...) and one admin; print a new admin API key on stdout."""

from __future__ import annotations

from backend import migrations
from backend.auth import service as auth
from backend.config import get_settings
from backend.db import make_engine, make_session_factory, session_scope
from tests.integration.test_dashboard import insert_rows


def main() -> None:
    engine = make_engine(get_settings().database_url)
    migrations.upgrade(engine)
    factory = make_session_factory(engine)
    insert_rows(factory)
    with session_scope(factory) as session:
        staff = auth.create_staff(
            session,
            email="fuzz-admin@shop.example",
            name="Fuzz Admin",
            role="admin",
            password="fuzz-admin-password",
        )
        key = auth.issue_api_key(session, staff_id=staff.id)
    engine.dispose()
    print(key)


if __name__ == "__main__":
    main()
