"""Scheduled contact jobs."""

from __future__ import annotations

from datetime import timedelta

from backend.contacts.service import expire_unconsented_trackers, finish_tracker_erasures
from backend.db import utcnow
from backend.jobs.registry import job


@job(
    "erase_chat_trackers",
    every=lambda s: timedelta(minutes=1),
    description="delete Rasa tracker rows of chats whose data was erased on request",
)
def erase_chat_trackers(session, settings) -> dict:
    return finish_tracker_erasures(session)


@job(
    "expire_unconsented_chats",
    every=lambda s: timedelta(hours=1),
    description="delete Rasa tracker rows of chats without privacy consent after "
    "UNCONSENTED_CHAT_RETENTION_HOURS of silence",
)
def expire_unconsented_chats(session, settings) -> dict:
    cutoff = utcnow() - timedelta(hours=settings.unconsented_chat_retention_hours)
    return expire_unconsented_trackers(session, older_than=cutoff)
