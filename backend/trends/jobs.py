"""Scheduled jobs of the trends area (registered with @job)."""

from __future__ import annotations

from datetime import timedelta

from backend.db import utcnow
from backend.jobs.registry import job
from backend.trends.bootstrap import build_sources
from backend.trends.service import ingest


@job(
    "trend_ingest",
    every=lambda s: timedelta(minutes=s.trend_ingest_minutes),
    description="Fetch X, Facebook, Instagram, LinkedIn and RSS trends; score against the catalog",
)
def trend_ingest(session, settings) -> dict:
    sources = build_sources(settings, session=session)
    # commit the reads before the network calls so SQLite's write lock is not held meanwhile
    result = ingest(
        session,
        sources=sources,
        now=utcnow(),
        release=session.commit,
        keep_history=timedelta(days=settings.trend_history_days),
    )
    return result.counts()
