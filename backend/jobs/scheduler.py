"""The scheduler process: runs every registered job on its interval (APScheduler)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.orm import sessionmaker

from backend.config import Settings
from backend.jobs.registry import load_jobs, run_job

log = logging.getLogger("backend.scheduler")


def build_scheduler(
    *, settings: Settings, session_factory: sessionmaker, only: frozenset[str] = frozenset()
) -> BlockingScheduler:
    """Every registered job, or only the named ones (`scheduler --only outbox`: an extra outbox
    worker; the outbox job claims its own rows, so any number of them can run)."""
    jobs = load_jobs()
    unknown = sorted(only - set(jobs))
    if unknown:
        raise KeyError(f"unknown job {', '.join(unknown)}; known: {', '.join(sorted(jobs))}")
    scheduler = BlockingScheduler(timezone="UTC")
    now = datetime.now(timezone.utc)
    for name, spec in jobs.items():
        if only and name not in only:
            continue
        scheduler.add_job(
            run_job,
            "interval",
            seconds=spec.every(settings).total_seconds(),
            id=name,
            kwargs={"name": name, "factory": session_factory, "settings": settings},
            max_instances=1,
            next_run_time=now,  # run once at start: a fresh install shows trends at once
            coalesce=True,
            misfire_grace_time=300,
        )
    return scheduler


def run_forever(
    *, settings: Settings, session_factory: sessionmaker, only: frozenset[str] = frozenset()
) -> None:
    scheduler = build_scheduler(settings=settings, session_factory=session_factory, only=only)
    log.info("scheduler started with jobs: %s", ", ".join(job.id for job in scheduler.get_jobs()))
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=False)
