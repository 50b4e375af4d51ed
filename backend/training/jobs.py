"""Scheduled review-queue work: read new conversations into the queue."""

from __future__ import annotations

from datetime import timedelta

from backend.jobs.registry import job
from backend.training import review


@job(
    "training_scan",
    every=lambda s: timedelta(minutes=s.training_scan_minutes),
    description="read new conversations into the training review queue",
)
def training_scan(session, settings) -> dict:
    return review.scan(session, thresholds=review.Thresholds.from_settings(settings))
