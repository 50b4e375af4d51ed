"""Scheduled outbox jobs: delivery (the lanes side by side, once per interval) and retention."""

from __future__ import annotations

from datetime import timedelta

from backend.db import make_session_factory, utcnow
from backend.jobs.registry import job
from backend.outbox.queue import apply_retention
from backend.outbox.worker import deliver_lanes


@job(
    "outbox",
    every=lambda s: timedelta(seconds=s.outbox_seconds),
    description="deliver due outbox messages (CRM pushes, messages) with retries and backoff",
    exclusive=False,  # any number of workers: each claims its own rows (SKIP LOCKED, leases)
)
def deliver_outbox(session, settings) -> dict:
    # Each message is claimed and committed in its own short transaction, not in the job's;
    # `backend outbox work` processes run the same lanes in a loop (backend/outbox/worker.py).
    return deliver_lanes(make_session_factory(session.get_bind()), settings)


@job(
    "outbox_retention",
    every=lambda s: timedelta(hours=24),
    description="blank old sent outbox messages (personal data) and delete old finished ones",
)
def outbox_retention(session, settings) -> dict:
    return apply_retention(
        session,
        now=utcnow(),
        blank_after=timedelta(days=settings.outbox_blank_after_days),
        delete_after=timedelta(days=settings.outbox_delete_after_days),
    )
