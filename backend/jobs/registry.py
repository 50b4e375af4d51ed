"""Job registry and the one way a job runs: claimed, in its own session, recorded.

A job is a function `(session, settings) -> dict[str, int|str]` (its counts). Areas register
theirs with `@job(name, every=...)`. Running a job: claim its lock row (compare-and-set, so
two schedulers on two machines never run it at once), run it in a fresh session, commit,
record a JobRun; on failure roll back, record the error, and carry on with the next job.
The lock is a short lease renewed by a heartbeat while the job runs: a killed holder
releases it within JOB_LEASE_SECONDS. A job registered with `exclusive=False` (the outbox) takes no
lock: it claims its own work.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from backend.config import Settings
from backend.jobs.models import JobLock, JobRun
from backend.logging_setup import log_event

log = logging.getLogger("backend.jobs")
JobFn = Callable[[Session, Settings], dict]


@dataclass(frozen=True)
class Job:
    name: str
    fn: JobFn
    every: Callable[[Settings], timedelta]
    description: str
    # False: the job may run in any number of processes at once (it claims its own work, like
    # the outbox's row claims); no fleet-wide lock, so a crashed run blocks nothing.
    exclusive: bool = True


REGISTRY: dict[str, Job] = {}


def job(
    name: str,
    *,
    every: Callable[[Settings], timedelta],
    description: str = "",
    exclusive: bool = True,
):
    def register(fn: JobFn) -> JobFn:
        REGISTRY[name] = Job(
            name,
            fn,
            every,
            description or (fn.__doc__ or "").strip().splitlines()[0],
            exclusive,
        )
        return fn

    return register


def load_jobs() -> dict[str, Job]:
    """Every registered job (backend/bootstrap.py imports the modules that register them)."""
    from backend import bus

    bus.ensure_wired()
    return REGISTRY


OWNER = f"{socket.gethostname()}:{os.getpid()}"
# A holder renews its lock every lease / 4 while the job runs (a heartbeat), so a lock whose
# holder was killed frees itself within the lease (JOB_LEASE_SECONDS), not after the job's
# longest possible run.


def _claim(factory: sessionmaker, name: str, lease: timedelta, owner: str) -> bool:
    now = datetime.now(timezone.utc)
    with factory() as session:
        if session.get(JobLock, name) is None:
            session.add(JobLock(job=name, owner=None, locked_until=None))
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
        result = session.execute(
            update(JobLock)
            .where(
                JobLock.job == name, or_(JobLock.locked_until.is_(None), JobLock.locked_until < now)
            )
            .values(owner=owner, locked_until=now + lease)
        )
        session.commit()
        return result.rowcount == 1


def _renew(factory: sessionmaker, name: str, lease: timedelta, owner: str) -> bool:
    with factory() as session:
        result = session.execute(
            update(JobLock)
            .where(JobLock.job == name, JobLock.owner == owner)
            .values(locked_until=datetime.now(timezone.utc) + lease)
        )
        session.commit()
        return result.rowcount == 1


def _release(factory: sessionmaker, name: str, owner: str) -> None:
    with factory() as session:
        session.execute(
            update(JobLock)
            .where(JobLock.job == name, JobLock.owner == owner)
            .values(locked_until=None)
        )
        session.commit()


class _Heartbeat(threading.Thread):
    """Renews a job lock every lease / 4 until stopped."""

    def __init__(self, factory: sessionmaker, name: str, lease: timedelta, owner: str):
        super().__init__(name=f"heartbeat-{name}", daemon=True)
        self.factory, self.job, self.lease, self.owner = factory, name, lease, owner
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.lease.total_seconds() / 4):
            try:
                if not _renew(self.factory, self.job, self.lease, self.owner):
                    log_event(log, "job lock lost", logging.ERROR, job=self.job)
                    return
            except Exception as exc:  # noqa: BLE001 - the next beat tries again
                log_event(log, "job lock renewal failed", logging.WARNING, error=type(exc).__name__)

    def stop(self) -> None:
        self.stopped.set()
        self.join()


def run_job(
    name: str,
    *,
    factory: sessionmaker,
    settings: Settings,
    lease: timedelta | None = None,
) -> JobRun:
    """Run one registered job now; returns its recorded JobRun (status ok|failed|skipped)."""
    jobs = load_jobs()
    if name not in jobs:
        raise KeyError(f"unknown job {name!r}; known: {', '.join(sorted(jobs))}")
    started = datetime.now(timezone.utc)
    lease = lease or timedelta(seconds=settings.job_lease_seconds)
    exclusive = jobs[name].exclusive
    owner = f"{OWNER}/{uuid.uuid4().hex[:8]}"  # this run, not just this process
    if exclusive and not _claim(factory, name, lease, owner):
        return _record(
            factory,
            JobRun(
                job=name,
                status="skipped",
                counts={},
                error="already running elsewhere",
                started_at=started,
                finished_at=started,
            ),
        )
    # A run's time starts once it holds the lock: waiting for the claim is not running, and two
    # runs of a singleton job then never overlap in job_runs.
    started = datetime.now(timezone.utc)
    heartbeat = _Heartbeat(factory, name, lease, owner) if exclusive else None
    if heartbeat:
        heartbeat.start()
    try:
        with factory() as session:
            try:
                counts = jobs[name].fn(session, settings) or {}
                session.commit()
                run = JobRun(job=name, status="ok", counts=counts, started_at=started)
            except Exception as exc:  # noqa: BLE001 - a failing job is recorded, never fatal
                session.rollback()
                log_event(log, "job failed", logging.ERROR, job=name, error=type(exc).__name__)
                log.debug("job traceback\n%s", traceback.format_exc())
                run = JobRun(
                    job=name,
                    status="failed",
                    counts={},
                    error=f"{type(exc).__name__}: {exc}"[:2000],
                    started_at=started,
                )
        run.finished_at = datetime.now(timezone.utc)
        return _record(factory, run)
    finally:
        if heartbeat:
            heartbeat.stop()
            _release(factory, name, owner)


def _record(factory: sessionmaker, run: JobRun) -> JobRun:
    with factory() as session:
        session.add(run)
        session.commit()
    log_event(log, "job finished", job=run.job, status=run.status)
    return run


def prune_runs(session: Session, *, before: datetime) -> int:
    """Delete the history of runs started before `before`; returns how many."""
    return session.execute(
        delete(JobRun)
        .where(JobRun.started_at < before)
        .execution_options(synchronize_session=False)
    ).rowcount


def recent_runs(session: Session, limit: int = 50) -> list[JobRun]:
    return list(session.execute(select(JobRun).order_by(JobRun.id.desc()).limit(limit)).scalars())
