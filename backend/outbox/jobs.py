"""Scheduled outbox delivery."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from backend.db import make_session_factory
from backend.jobs.registry import job
from backend.outbox.queue import deliver_due

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
MAX_BATCHES = 20  # one run drains up to 1,000 due messages; the next run takes the rest


@job(
    "outbox",
    every=lambda s: timedelta(seconds=s.outbox_seconds),
    description="deliver due outbox messages (CRM pushes, messages) with retries and backoff",
    exclusive=False,  # any number of workers: each claims its own rows (SKIP LOCKED, leases)
)
def deliver_outbox(session, settings) -> dict:
    # Each message is claimed and committed in its own short transaction, not in the job's.
    factory = make_session_factory(session.get_bind())
    totals: dict[str, int] = {}
    for _ in range(MAX_BATCHES):
        counts = deliver_due(factory, settings, worker_id=WORKER_ID, batch=50)
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
        if counts["claimed"] < 50:
            break
    return totals
