"""Prepare the database for scripts/schemathesis.sh: migrate DATABASE_URL, add sample rows
(leads, contacts, incidents...) and one admin; print a new admin API key on stdout."""

from __future__ import annotations

from backend import migrations
from backend.auth import service as auth
from backend.config import get_settings
from backend.db import make_engine, make_session_factory, session_scope
from backend.outbox.models import OutboxMessage
from tests.integration.test_dashboard import insert_rows


def main() -> None:
    engine = make_engine(get_settings().database_url)
    migrations.upgrade(engine)
    factory = make_session_factory(engine)
    insert_rows(factory)
    with session_scope(factory) as session:  # something for outbox/{id}/retry to retry
        session.add(
            OutboxMessage(
                kind="crm", topic="contact_updated", idempotency_key="fuzz-dead", status="dead",
                attempts=30, last_error="IntegrationError: provider: 400 bad request",
            )
        )  # fmt: skip
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
