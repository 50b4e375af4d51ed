"""Scheduled follow-ups: due FollowUp rows become outbox messages through the send gate."""

from __future__ import annotations

from datetime import timedelta

from backend.jobs.registry import job
from backend.messaging import service

FOLLOW_UP_EVERY = timedelta(minutes=5)


@job(
    "follow_ups",
    every=lambda s: FOLLOW_UP_EVERY,
    description="queue due follow-ups (email/SMS/WhatsApp) through the send gate",
)
def follow_ups(session, settings) -> dict:
    return service.queue_due_follow_ups(session, settings=settings)
