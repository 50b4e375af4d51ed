"""Scheduled turn-replay job: stored action answers are deleted after a few hours."""

from __future__ import annotations

from datetime import timedelta

from backend.db import utcnow
from backend.jobs.registry import job
from backend.replay.service import prune


@job(
    "action_replay_retention",
    every=lambda s: timedelta(minutes=15),
    description="delete stored custom-action answers (for resent turns) older than "
    "ACTION_REPLAY_KEEP_HOURS",
)
def action_replay_retention(session, settings) -> dict:
    return {
        "deleted": prune(
            session, before=utcnow() - timedelta(hours=settings.action_replay_keep_hours)
        )
    }
