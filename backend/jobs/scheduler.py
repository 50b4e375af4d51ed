"""The scheduler process: runs every registered job on its interval (APScheduler)."""

from __future__ import annotations

import logging

from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.orm import sessionmaker

from backend.config import Settings
from backend.jobs.registry import load_jobs, run_job

log = logging.getLogger("backend.scheduler")


def build_scheduler(*, settings: Settings, session_factory: sessionmaker) -> BlockingScheduler:
    scheduler = BlockingScheduler(timezone="UTC")
    for name, spec in load_jobs().items():
        scheduler.add_job(
            run_job,
            "interval",
            seconds=spec.every(settings).total_seconds(),
            id=name,
            kwargs={"name": name, "factory": session_factory, "settings": settings},
            max_instances=1,
            coalesce=True,
            misfire_grace_time=300,
        )
    return scheduler


def run_forever(*, settings: Settings, session_factory: sessionmaker) -> None:
    scheduler = build_scheduler(settings=settings, session_factory=session_factory)
    log.info("scheduler started with jobs: %s", ", ".join(job.id for job in scheduler.get_jobs()))
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=False)
