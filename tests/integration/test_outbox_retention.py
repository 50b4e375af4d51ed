"""Retention of outbox rows (payloads hold addresses and message text) and of job history."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from backend.config import ConfigError, load_settings
from backend.db import session_scope
from backend.jobs import registry
from backend.jobs.models import JobRun
from backend.outbox import queue as outbox
from backend.outbox.models import OutboxMessage

NOW = datetime.now(timezone.utc)


@pytest.fixture(params=["sqlite", "postgres"])
def factory(request):
    if request.param == "sqlite":
        return request.getfixturevalue("session_factory")
    return request.getfixturevalue("pg_session_factory")


def add(factory, key, *, status, age_days, sent=True) -> int:
    created = NOW - timedelta(days=age_days)
    with session_scope(factory) as session:
        message = outbox.enqueue(
            session,
            kind="email",
            topic="receipt_issued",
            payload={"to": "jane.doe@example.org", "body": "your receipt"},
            idempotency_key=key,
            recipient="jane.doe@example.org",
            not_before=created,
        )
        message.created_at, message.status = created, status
        message.sent_at = created if sent and status == "sent" else None
        message.provider_ref = "sg-123" if status == "sent" else None
        session.flush()
        return message.id


def rows(factory) -> dict[int, OutboxMessage]:
    with factory() as session:
        return {m.id: m for m in session.execute(select(OutboxMessage)).scalars()}


def test_outbox_retention_blanks_then_deletes_and_never_drops_a_pending_row(factory, db_url):
    settings = load_settings({"DATABASE_URL": db_url}, dotenv=False)  # 30 and 180 days
    fresh = add(factory, "fresh", status="sent", age_days=5)
    old_sent = add(factory, "old", status="sent", age_days=40)
    add(factory, "ancient", status="sent", age_days=200)
    add(factory, "dead", status="dead", age_days=200)
    ancient_pending = add(factory, "pending", status="pending", age_days=200)

    run = registry.run_job("outbox_retention", factory=factory, settings=settings)
    assert run.status == "ok" and run.counts == {"blanked": 2, "deleted": 2}
    left = rows(factory)
    assert set(left) == {fresh, old_sent, ancient_pending}
    assert left[fresh].payload["to"] == "jane.doe@example.org"  # within 30 days: kept
    blanked = left[old_sent]
    assert (blanked.payload, blanked.recipient) == ({"blanked": True}, None)
    assert (blanked.status, blanked.provider_ref) == ("sent", "sg-123")  # the proof stays
    assert left[ancient_pending].payload["to"] == "jane.doe@example.org"  # still to deliver

    again = registry.run_job("outbox_retention", factory=factory, settings=settings)
    assert again.counts == {"blanked": 0, "deleted": 0}  # a blanked row is not rewritten


def test_job_history_is_pruned_after_its_retention(factory, db_url):
    settings = load_settings({"DATABASE_URL": db_url, "JOB_RUNS_KEEP_DAYS": "10"}, dotenv=False)
    with session_scope(factory) as session:
        for age in (1, 9, 11, 400):
            started = NOW - timedelta(days=age)
            session.add(JobRun(job="x", status="ok", counts={}, started_at=started))
    run = registry.run_job("job_runs_retention", factory=factory, settings=settings)
    assert run.status == "ok" and run.counts == {"deleted": 2}
    with factory() as session:
        jobs = [r.job for r in session.execute(select(JobRun)).scalars()]
    assert sorted(jobs) == ["job_runs_retention", "x", "x"]


def test_deleting_before_blanking_is_refused():
    with pytest.raises(ConfigError, match="OUTBOX_DELETE_AFTER_DAYS"):
        load_settings(
            {"OUTBOX_BLANK_AFTER_DAYS": "30", "OUTBOX_DELETE_AFTER_DAYS": "7"}, dotenv=False
        )
