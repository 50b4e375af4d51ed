"""Instagram Graph API: hashtag search → top and recent media of the configured hashtags.

Instagram allows 30 unique hashtags per rolling 7 days per account; the budget (stored in
SourceBudget) is checked before a hashtag is searched, and a hashtag beyond it is refused.
One aggregate signal per hashtag: media count plus likes and comments of the top media, the
best caption as snippet, the public tag page as URL — no media permalinks, no usernames.
"""

from __future__ import annotations

import abc
from datetime import datetime, timedelta
from urllib.parse import quote

from backend.trends.sources.base import RawSignal, TrendSource
from backend.trends.sources.graph import graph_error_hook, next_cursor, parse_graph_time
from backend.trends.sources.http import HttpClient

HASHTAG_LIMIT = 30
HASHTAG_WINDOW = timedelta(days=7)
MEDIA_FIELDS = "id,caption,like_count,comments_count,timestamp,media_type"


class HashtagBudget(abc.ABC):
    @abc.abstractmethod
    def allow(self, hashtag: str, now: datetime) -> bool:
        """True (and the use recorded) when the hashtag fits in the 30-per-7-days budget."""


class MemoryHashtagBudget(HashtagBudget):
    """Seeded with the uses stored in SourceBudget; new uses are stored back by the ingest."""

    def __init__(self, used: dict[str, datetime] | None = None, *, limit: int = HASHTAG_LIMIT):
        self.limit = limit
        self.used: dict[str, datetime] = dict(used or {})
        self.new_uses: dict[str, datetime] = {}

    def allow(self, hashtag: str, now: datetime) -> bool:
        recent = {k for k, at in self.used.items() if at > now - HASHTAG_WINDOW}
        if hashtag not in recent and len(recent) >= self.limit:
            return False
        self.used[hashtag] = now
        self.new_uses[hashtag] = now
        return True


class InstagramSource(TrendSource):
    name = "instagram"

    def __init__(
        self,
        *,
        access_token: str,
        user_id: str,
        hashtags: list[str],
        budget: HashtagBudget,
        base_url: str = "https://graph.facebook.com/v24.0",
        http: HttpClient | None = None,
        configured: bool = True,
        max_pages: int = 2,
    ):
        self.access_token = access_token
        self.user_id = user_id
        self.hashtags = [h.lstrip("#").lower() for h in hashtags if h.strip()]
        self.budget = budget
        self.base_url = base_url.rstrip("/")
        self.http = http or HttpClient("instagram", error_hook=graph_error_hook("instagram"))
        self._configured = configured
        self.max_pages = max_pages
        self.refused: list[str] = []  # hashtags skipped because the weekly budget is spent

    def missing(self) -> str:
        if not self._configured:
            return "INSTAGRAM_ACCESS_TOKEN is not set"
        if not self.user_id:
            return "INSTAGRAM_USER_ID is empty"
        if not self.hashtags:
            return "INSTAGRAM_HASHTAGS is empty"
        return ""

    def _get(self, path: str, params: dict) -> dict:
        params = {**params, "access_token": self.access_token}
        return self.http.get_json(f"{self.base_url}{path}", params=params)

    def fetch(self, now: datetime) -> list[RawSignal]:
        self.refused = []
        signals = []
        for tag in self.hashtags:
            if not self.budget.allow(tag, now):
                self.refused.append(tag)
                continue
            signal = self._hashtag(tag, now)
            if signal is not None:
                signals.append(signal)
        return signals

    def quota_uses(self) -> dict[str, datetime]:
        return dict(getattr(self.budget, "new_uses", {}))

    def notes(self) -> str:
        if not self.refused:
            return ""
        return "weekly hashtag budget (30) spent; refused: " + ", ".join(
            f"#{t}" for t in self.refused
        )

    def _media(self, hashtag_id: str, edge: str) -> list[dict]:
        params = {"user_id": self.user_id, "fields": MEDIA_FIELDS, "limit": 50}
        media: list[dict] = []
        for _ in range(self.max_pages):
            body = self._get(f"/{hashtag_id}/{edge}", params)
            media.extend(body.get("data") or [])
            after = next_cursor(body)
            if not after:
                break
            params = {**params, "after": after}
        return media

    def _hashtag(self, tag: str, now: datetime) -> RawSignal | None:
        found = self._get("/ig_hashtag_search", {"user_id": self.user_id, "q": tag})
        ids = [d["id"] for d in found.get("data") or [] if d.get("id")]
        if not ids:
            return None
        top = self._media(ids[0], "top_media")
        recent = self._media(ids[0], "recent_media")
        engagement = sum(
            int(m.get("like_count") or 0) + int(m.get("comments_count") or 0) for m in top
        )
        best = max(top, key=lambda m: int(m.get("like_count") or 0), default={})
        times = [t for t in (parse_graph_time(m.get("timestamp")) for m in recent + top) if t]
        return RawSignal(
            source=self.name,
            external_id=f"hashtag:{tag}",
            topic=f"#{tag}",
            text=" ".join([f"#{tag}"] + [m.get("caption") or "" for m in top + recent]),
            snippet=best.get("caption") or "",
            volume=len(top) + len(recent) + engagement,
            url=f"https://www.instagram.com/explore/tags/{quote(tag)}/",
            published_at=max(times) if times else now,
        )
