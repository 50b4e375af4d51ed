"""Facebook Pages: recent posts of the configured Pages (page access token), cursor paging.

Pages are organisations, so a post's permalink is public business content. Each post is
one signal; its topic is its first line, its volume 1 + shares.
"""

from __future__ import annotations

from datetime import datetime

from backend.trends.normalize import headline
from backend.trends.sources.base import RawSignal, TrendSource
from backend.trends.sources.graph import graph_error_hook, next_cursor, parse_graph_time
from backend.trends.sources.http import HttpClient

POST_FIELDS = "id,message,created_time,permalink_url,shares"


class FacebookSource(TrendSource):
    name = "facebook"

    def __init__(
        self,
        *,
        page_token: str,
        page_ids: list[str],
        base_url: str = "https://graph.facebook.com/v24.0",
        http: HttpClient | None = None,
        configured: bool = True,
        max_pages: int = 3,
        page_size: int = 25,
    ):
        self.page_token = page_token
        self.page_ids = page_ids
        self.base_url = base_url.rstrip("/")
        self.http = http or HttpClient("facebook", error_hook=graph_error_hook("facebook"))
        self._configured = configured
        self.max_pages = max_pages
        self.page_size = page_size

    def missing(self) -> str:
        if not self._configured:
            return "FACEBOOK_PAGE_TOKEN is not set"
        if not self.page_ids:
            return "FACEBOOK_PAGE_IDS is empty"
        return ""

    def fetch(self, now: datetime) -> list[RawSignal]:
        signals: list[RawSignal] = []
        for page_id in self.page_ids:
            signals.extend(self._page(page_id))
        return signals

    def _page(self, page_id: str) -> list[RawSignal]:
        params = {"fields": POST_FIELDS, "limit": self.page_size, "access_token": self.page_token}
        signals = []
        for _ in range(self.max_pages):
            body = self.http.get_json(f"{self.base_url}/{page_id}/posts", params=params)
            for post in body.get("data") or []:
                message = post.get("message") or ""
                if not message.strip():
                    continue
                signals.append(
                    RawSignal(
                        source=self.name,
                        external_id=str(post["id"]),
                        topic=headline(message),
                        text=message,
                        snippet=message,
                        volume=1 + int((post.get("shares") or {}).get("count", 0)),
                        url=post.get("permalink_url"),
                        published_at=parse_graph_time(post.get("created_time")),
                    )
                )
            after = next_cursor(body)
            if not after:
                break
            params = {**params, "after": after}
        return signals
