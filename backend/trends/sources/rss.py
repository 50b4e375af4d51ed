"""RSS/Atom feeds through feedparser: http(s) URLs, file:// URLs and plain paths.

Health-news feeds are editorial content; each item is one signal (title as topic, summary
as text and snippet, link as URL), volume 1 — a topic many feeds repeat adds up in scoring.
"""

from __future__ import annotations

import calendar
import hashlib
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote, urlsplit

import feedparser

from backend.integrations import IntegrationError
from backend.trends.normalize import clean_text
from backend.trends.sources.base import RawSignal, TrendSource
from backend.trends.sources.http import HttpClient

SAMPLE_FEEDS_DIR = Path(__file__).resolve().parents[2] / "sample_data" / "feeds"


def sample_feeds() -> list[str]:
    return [p.as_uri() for p in sorted(SAMPLE_FEEDS_DIR.glob("*.xml"))]


def _when(entry) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    return datetime.fromtimestamp(calendar.timegm(parsed), tz=timezone.utc) if parsed else None


class RssSource(TrendSource):
    name = "rss"

    def __init__(self, *, feeds: list[str], http: HttpClient | None = None, max_items: int = 50):
        self.feeds = [f.strip() for f in feeds if f.strip()]
        self.http = http or HttpClient("rss")
        self.max_items = max_items
        self.failed: list[str] = []  # feeds that failed this run (the others still count)

    def missing(self) -> str:
        return "" if self.feeds else "no feeds configured"

    def _read(self, feed: str) -> bytes:
        parts = urlsplit(feed)
        if parts.scheme in ("http", "https"):
            return self.http.get_bytes(feed, headers={"User-Agent": "HealthTrendSeller/1.0 (+rss)"})
        path = Path(unquote(parts.path)) if parts.scheme == "file" else Path(feed)
        try:
            return path.read_bytes()
        except OSError as exc:
            raise IntegrationError(
                f"rss: cannot read {path.name}: {exc.strerror}", permanent=True
            ) from None

    def fetch(self, now: datetime) -> list[RawSignal]:
        self.failed = []
        signals: list[RawSignal] = []
        errors: list[IntegrationError] = []
        for feed in self.feeds:
            try:
                signals.extend(self._feed(feed))
            except IntegrationError as exc:
                self.failed.append(feed)
                errors.append(exc)
        if errors and not signals:
            raise errors[0]  # every feed failed: the source failed
        return signals

    def notes(self) -> str:
        return f"{len(self.failed)} of {len(self.feeds)} feeds failed" if self.failed else ""

    def _feed(self, feed: str) -> list[RawSignal]:
        parsed = feedparser.parse(self._read(feed))
        if parsed.bozo and not parsed.entries:
            raise IntegrationError(f"rss: not a valid feed: {feed[:80]}", permanent=True)
        signals = []
        for entry in parsed.entries[: self.max_items]:
            title = clean_text(entry.get("title", ""))
            if not title:
                continue
            summary = entry.get("summary", "") or entry.get("description", "")
            link = entry.get("link")
            ident = entry.get("id") or link or title
            external_id = hashlib.sha256(f"{feed}|{ident}".encode()).hexdigest()[:40]
            signals.append(
                RawSignal(
                    source=self.name,
                    external_id=external_id,
                    topic=title[:300],
                    text=f"{title}. {summary}",
                    snippet=summary or title,
                    volume=1,
                    url=link,
                    published_at=_when(entry),
                )
            )
        return signals
