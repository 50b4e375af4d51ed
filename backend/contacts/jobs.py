"""Scheduled contact jobs."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from backend.contacts.service import expire_unconsented_trackers, finish_tracker_erasures
from backend.db import utcnow
from backend.jobs.registry import job
from backend.sales.models import Lead


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
    # chats a lead points to are kept: the team may still need the transcript
    keep = set(
        session.execute(
            select(Lead.conversation_id).where(Lead.conversation_id.is_not(None))
        ).scalars()
    )
    return expire_unconsented_trackers(session, older_than=cutoff, keep=keep)
