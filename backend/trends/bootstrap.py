"""The one place that wires the real trend sources from settings."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from sqlalchemy.orm import Session

from backend.config import Settings
from backend.trends.sources.base import TrendSource
from backend.trends.sources.facebook import FacebookSource
from backend.trends.sources.instagram import InstagramSource, MemoryHashtagBudget
from backend.trends.sources.linkedin import LinkedInSource
from backend.trends.sources.rss import RssSource, sample_feeds
from backend.trends.sources.x import XSource, month_key


def _list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def graph_base(base: str, version: str) -> str:
    """The Graph API base with its version; a base that already names one keeps it."""
    base = base.rstrip("/")
    return base if re.search(r"/v\d+\.\d+$", base) else f"{base}/{version}"


def build_sources(settings: Settings, *, session: Session | None = None) -> list[TrendSource]:
    """X, Facebook, Instagram, LinkedIn and RSS, each "not configured" without real keys.

    With a session the Instagram hashtag budget and X's post reads this month are seeded
    from what was stored earlier.
    """
    from backend.trends.service import load_amount, load_budget

    used = load_budget(session, source="instagram") if session is not None else {}
    month = month_key(datetime.now(timezone.utc))
    posts_read = load_amount(session, source="x", key=month) if session is not None else 0
    return [
        XSource(
            bearer_token=settings.twitter_bearer_token,
            queries=_list(settings.twitter_queries),
            woeid=settings.twitter_woeid.strip(),
            base_url=settings.x_api_base,
            configured=settings.configured("twitter_bearer_token"),
            monthly_post_reads=settings.x_monthly_post_reads,
            posts_read=posts_read,
            posts_read_month=month,
        ),
        FacebookSource(
            page_token=settings.facebook_page_token,
            page_ids=_list(settings.facebook_page_ids),
            base_url=graph_base(settings.facebook_api_base, settings.meta_graph_version),
            configured=settings.configured("facebook_page_token"),
        ),
        InstagramSource(
            access_token=settings.instagram_access_token,
            user_id=settings.instagram_user_id.strip(),
            hashtags=_list(settings.instagram_hashtags),
            budget=MemoryHashtagBudget(used),
            base_url=graph_base(settings.instagram_api_base, settings.meta_graph_version),
            configured=settings.configured("instagram_access_token"),
        ),
        LinkedInSource(
            access_token=settings.linkedin_access_token,
            organization_urn=settings.linkedin_organization_urn.strip(),
            base_url=settings.linkedin_api_base,
            version=settings.linkedin_version,
            configured=settings.configured("linkedin_access_token"),
        ),
        RssSource(feeds=_list(settings.rss_feeds) or sample_feeds()),
    ]
