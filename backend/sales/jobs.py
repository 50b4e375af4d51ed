"""Scheduled sales work: the SLA check (backend/sales/sla.py) and the takeover timeout."""

from __future__ import annotations

from datetime import timedelta

from backend import chat_feed
from backend.jobs.registry import job
from backend.sales import inbox, sla

SLA_CHECK_EVERY = timedelta(minutes=1)  # the tightest SLA is 15 minutes (emergencies)
TAKEOVER_CHECK_EVERY = timedelta(minutes=1)  # a chat is handed back within a minute of its time


@job(
    "sla_check",
    every=lambda s: SLA_CHECK_EVERY,
    description="warn about leads near their first-reply SLA; an incident for each past it",
)
def sla_check(session, settings) -> dict:
    return sla.check_sla(session, warn_percent=settings.sla_warning_percent)


@job(
    "takeover_timeout",
    every=lambda s: TAKEOVER_CHECK_EVERY,
    description="hand chats back to the bot after TAKEOVER_IDLE_MINUTES without staff",
)
def takeover_timeout(session, settings) -> dict:
    return inbox.release_idle(session, settings=settings, feed=_feed(settings))


_feeds: dict[str, chat_feed.ChatFeed] = {}


def _feed(settings) -> chat_feed.ChatFeed:
    """The web windows' push, one per process (Redis when configured; without it a window
    served by another process sees the notice on its next reconnect or poll)."""
    if settings.redis_url not in _feeds:
        _feeds[settings.redis_url] = chat_feed.feed_for(settings)
    return _feeds[settings.redis_url]
