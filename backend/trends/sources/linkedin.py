"""LinkedIn: the configured organisation's own recent posts (Posts API, versioned headers).

LinkedIn has no public trend or hashtag-search endpoint; this source yields the topics of
the organisation's own posts, which is what the API honestly offers.
"""

from __future__ import annotations

from datetime import datetime, timezone

from backend.trends.normalize import headline
from backend.trends.sources.base import RawSignal, TrendSource
from backend.trends.sources.http import HttpClient

LINKEDIN_VERSION = "202610"  # the default of the LINKEDIN_VERSION setting
WARN_AFTER_MONTHS = 10  # LinkedIn supports a version for at least a year after its release


def version_age_months(version: str, now: datetime) -> int:
    """Whole months between a YYYYMM version and `now`."""
    return (now.year - int(version[:4])) * 12 + now.month - int(version[4:6])


class LinkedInSource(TrendSource):
    name = "linkedin"

    def __init__(
        self,
        *,
        access_token: str,
        organization_urn: str,
        base_url: str = "https://api.linkedin.com",
        version: str = LINKEDIN_VERSION,
        http: HttpClient | None = None,
        configured: bool = True,
        count: int = 20,
        max_pages: int = 2,
    ):
        self.access_token = access_token
        self.organization_urn = organization_urn
        self.base_url = base_url.rstrip("/")
        self.version = version
        self._age = 0
        self.http = http or HttpClient("linkedin")
        self._configured = configured
        self.count = count
        self.max_pages = max_pages

    def missing(self) -> str:
        if not self._configured:
            return "LINKEDIN_ACCESS_TOKEN is not set"
        if not self.organization_urn:
            return "LINKEDIN_ORGANIZATION_URN is empty"
        return ""

    def notes(self) -> str:
        if self._age < WARN_AFTER_MONTHS:
            return ""
        return (
            f"LINKEDIN_VERSION {self.version} is {self._age} months old: LinkedIn retires a "
            "version about a year after its release; move to a newer one"
        )

    def fetch(self, now: datetime) -> list[RawSignal]:
        self._age = version_age_months(self.version, now)
        headers = {
            "Authorization": f"Bearer {self.access_token}",
            "LinkedIn-Version": self.version,
            "X-Restli-Protocol-Version": "2.0.0",
        }
        signals = []
        start = 0
        for _ in range(self.max_pages):
            params = {
                "author": self.organization_urn,
                "q": "author",
                "count": self.count,
                "start": start,
            }
            body = self.http.get_json(f"{self.base_url}/rest/posts", params=params, headers=headers)
            elements = body.get("elements") or []
            for post in elements:
                text = post.get("commentary") or ""
                if not text.strip() or not post.get("id"):
                    continue
                published = post.get("publishedAt") or post.get("createdAt")
                signals.append(
                    RawSignal(
                        source=self.name,
                        external_id=str(post["id"]),
                        topic=headline(text),
                        text=text,
                        snippet=text,
                        volume=1,
                        url=f"https://www.linkedin.com/feed/update/{post['id']}/",
                        published_at=datetime.fromtimestamp(published / 1000, tz=timezone.utc)
                        if published
                        else None,
                    )
                )
            total = int((body.get("paging") or {}).get("total") or 0)
            start += len(elements)
            if not elements or start >= total:
                break
        return signals
