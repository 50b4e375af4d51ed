"""Scheduled outbox delivery: one lane per message kind, the lanes side by side."""

from __future__ import annotations

import os
import socket
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from backend.config import Settings
from backend.db import make_session_factory, utcnow
from backend.jobs.registry import job
from backend.outbox.queue import apply_retention, deliver_due, registered_kinds

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
MAX_ROWS_PER_LANE = 1000  # per run; the next run takes the rest


@job(
    "outbox",
    every=lambda s: timedelta(seconds=s.outbox_seconds),
    description="deliver due outbox messages (CRM pushes, messages) with retries and backoff",
    exclusive=False,  # any number of workers: each claims its own rows (SKIP LOCKED, leases)
)
def deliver_outbox(session, settings) -> dict:
    # Each message is claimed and committed in its own short transaction, not in the job's.
    # A lane per kind in its own thread: a hanging provider (20 s timeouts) holds up only its
    # own lane, and its circuit breaker soon stops even that.
    factory = make_session_factory(session.get_bind())
    lanes = registered_kinds()
    with ThreadPoolExecutor(max_workers=max(1, len(lanes)), thread_name_prefix="outbox") as pool:
        results = list(pool.map(lambda kind: drain_lane(factory, settings, kind=kind), lanes))
    totals: dict[str, int] = {}
    for counts in results:
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
    return totals


def drain_lane(factory, settings: Settings, *, kind: str) -> dict[str, int]:
    """Deliver due rows of one kind, a batch at a time, up to MAX_ROWS_PER_LANE."""
    batch = settings.outbox_lane_batch
    totals: dict[str, int] = {}
    for _ in range(max(1, MAX_ROWS_PER_LANE // batch)):
        counts = deliver_due(factory, settings, worker_id=WORKER_ID, batch=batch, kinds=[kind])
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
        if counts["claimed"] < batch or counts["circuit_open"]:
            break
    return totals


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
