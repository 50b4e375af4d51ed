"""Scheduled contact jobs."""

from __future__ import annotations

from datetime import timedelta

from backend.contacts.service import finish_tracker_erasures
from backend.jobs.registry import job


@job(
    "erase_chat_trackers",
    every=lambda s: timedelta(minutes=1),
    description="delete Rasa tracker rows of chats whose data was erased on request",
)
def erase_chat_trackers(session, settings) -> dict:
    return finish_tracker_erasures(session)
