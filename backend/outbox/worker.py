"""Outbox delivery processes: the lanes side by side, once (the job) or until stopped (a worker).

`deliver_lanes` runs one lane per message kind in its own thread, so a hanging provider (20 s
timeouts) holds up only its own lane, and its circuit breaker soon stops even that. The
scheduler's `outbox` job calls it once per interval; `backend outbox work` calls it in a loop,
and any number of those processes may run on any number of machines (Postgres claims rows with
`FOR UPDATE SKIP LOCKED`; on SQLite one writer at a time, so one worker is the useful number).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from backend.config import Settings
from backend.logging_setup import log_event
from backend.outbox.models import OutboxMessage
from backend.outbox.queue import PENDING, SENDING, deliver_due, registered_kinds

log = logging.getLogger("backend.outbox")

MAX_ROWS_PER_LANE = 1000  # per pass; the next pass takes the rest


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def deliver_lanes(
    factory: sessionmaker,
    settings: Settings,
    *,
    kinds: list[str] | None = None,
    stop: threading.Event | None = None,
) -> dict[str, int]:
    """One pass over every lane (of `kinds`, default all) at once; the summed counts."""
    lanes = [kind for kind in registered_kinds() if not kinds or kind in kinds]
    if not lanes:
        return {}
    with ThreadPoolExecutor(max_workers=len(lanes), thread_name_prefix="outbox") as pool:
        results = list(
            pool.map(lambda kind: drain_lane(factory, settings, kind=kind, stop=stop), lanes)
        )
    return _sum(results)


def drain_lane(
    factory: sessionmaker, settings: Settings, *, kind: str, stop: threading.Event | None = None
) -> dict[str, int]:
    """Deliver due rows of one kind, a batch at a time, up to MAX_ROWS_PER_LANE."""
    batch = settings.outbox_lane_batch
    totals: dict[str, int] = {}
    for _ in range(max(1, MAX_ROWS_PER_LANE // batch)):
        counts = deliver_due(factory, settings, worker_id=worker_id(), batch=batch, kinds=[kind])
        totals = _sum([totals, counts])
        if counts["claimed"] < batch or counts["circuit_open"] or (stop and stop.is_set()):
            break
    return totals


def outstanding(factory: sessionmaker, *, kinds: list[str] | None = None) -> int:
    """Rows still to deliver (pending or sending) of `kinds` (default: every registered kind)."""
    lanes = [kind for kind in registered_kinds() if not kinds or kind in kinds]
    with factory() as session:
        return session.execute(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status.in_((PENDING, SENDING)), OutboxMessage.kind.in_(lanes))
        ).scalar_one()


def work(
    factory: sessionmaker,
    settings: Settings,
    *,
    kinds: list[str] | None = None,
    until_empty: bool = False,
    stop: threading.Event | None = None,
) -> dict[str, int]:
    """Deliver until `stop` is set (SIGTERM) or, with `until_empty`, until no row of `kinds` is
    pending or sending; waits OUTBOX_POLL_SECONDS when nothing is due. The summed counts."""
    stop = stop or threading.Event()
    totals: dict[str, int] = {}
    log_event(log, "outbox worker started", worker=worker_id(), kinds=",".join(kinds or []))
    while not stop.is_set():
        try:
            counts = deliver_lanes(factory, settings, kinds=kinds, stop=stop)
            totals = _sum([totals, counts])
            if counts.get("claimed"):
                continue
            if until_empty and not outstanding(factory, kinds=kinds):
                break
        except SQLAlchemyError as exc:
            # The database restarting or failing over must not end the worker: what it held
            # goes back to the queue when the lease ends; it tries again after the poll wait.
            log_event(log, "outbox worker pass failed", logging.ERROR, error=type(exc).__name__)
        stop.wait(settings.outbox_poll_seconds)
    log_event(log, "outbox worker stopped", worker=worker_id(), sent=totals.get("sent", 0))
    return totals


def _sum(results: list[dict[str, int]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for counts in results:
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
    return totals
