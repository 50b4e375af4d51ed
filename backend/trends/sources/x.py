"""X (Twitter) API: recent counts and recent search per health query, trends by WOEID.

Auth: app-only bearer token. Limits: `x-rate-limit-*` headers, reset in epoch seconds.
Only aggregates leave this module: per query the 7-day count and the most engaged post's
text (handles and URLs are stripped later), per hashtag how often it co-occurred.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from urllib.parse import quote_plus

from backend.trends.sources.base import RawSignal, TrendSource
from backend.trends.sources.http import HttpClient

MIN_COOCCURRING = 3  # a hashtag seen this often in one query's results becomes a signal


def _engagement(tweet: dict) -> int:
    metrics = tweet.get("public_metrics") or {}
    return sum(
        int(metrics.get(k, 0))
        for k in ("like_count", "retweet_count", "reply_count", "quote_count")
    )


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class XSource(TrendSource):
    name = "x"

    def __init__(
        self,
        *,
        bearer_token: str,
        queries: list[str],
        woeid: str = "",
        base_url: str = "https://api.twitter.com",
        http: HttpClient | None = None,
        configured: bool = True,
    ):
        self.bearer_token = bearer_token
        self.queries = queries
        self.woeid = woeid
        self.base_url = base_url.rstrip("/")
        self.http = http or HttpClient("x")
        self._configured = configured

    def missing(self) -> str:
        if not self._configured:
            return "TWITTER_BEARER_TOKEN is not set"
        if not self.queries and not self.woeid:
            return "TWITTER_QUERIES and TWITTER_WOEID are empty"
        return ""

    def _get(self, path: str, params: dict):
        headers = {"Authorization": f"Bearer {self.bearer_token}"}
        return self.http.get_json(f"{self.base_url}{path}", params=params, headers=headers)

    def fetch(self, now: datetime) -> list[RawSignal]:
        signals: list[RawSignal] = []
        for query in self.queries:
            signals.extend(self._query(query, now))
        if self.woeid:
            signals.extend(self._woeid_trends())
        return signals

    def _query(self, query: str, now: datetime) -> list[RawSignal]:
        search = f"{query} -is:retweet lang:en"
        counts = self._get("/2/tweets/counts/recent", {"query": search, "granularity": "day"})
        total = int((counts.get("meta") or {}).get("total_tweet_count", 0))
        found = self._get(
            "/2/tweets/search/recent",
            {
                "query": search,
                "max_results": 100,
                "tweet.fields": "created_at,public_metrics,entities",
            },
        )
        tweets = found.get("data") or []
        url = f"https://x.com/search?q={quote_plus(query)}"
        top = max(tweets, key=_engagement, default=None)
        signals = [
            RawSignal(
                source=self.name,
                external_id=f"query:{query.lower()}",
                topic=query,
                text=" ".join(t.get("text", "") for t in tweets),
                snippet=(top or {}).get("text", ""),
                volume=total or len(tweets),
                url=url,
                published_at=now,
            )
        ]
        tags = Counter(
            tag["tag"].lower()
            for t in tweets
            for tag in ((t.get("entities") or {}).get("hashtags") or [])
            if tag.get("tag")
        )
        for tag, count in tags.most_common(10):
            if count < MIN_COOCCURRING or tag in query.lower().replace(" ", ""):
                continue
            signals.append(
                RawSignal(
                    source=self.name,
                    external_id=f"hashtag:{tag}",
                    topic=f"#{tag}",
                    text=f"#{tag} {query}",
                    volume=count,
                    url=f"https://x.com/hashtag/{quote_plus(tag)}",
                    published_at=now,
                )
            )
        return signals

    def _woeid_trends(self) -> list[RawSignal]:
        body = self._get("/1.1/trends/place.json", {"id": self.woeid})
        place = body[0] if isinstance(body, list) and body else {}
        as_of = _parse_time(place.get("as_of"))
        signals = []
        for trend in place.get("trends") or []:
            name = trend.get("name") or ""
            if not name:
                continue
            signals.append(
                RawSignal(
                    source=self.name,
                    external_id=f"woeid:{self.woeid}:{name.lower()}",
                    topic=name,
                    text=name,
                    volume=int(trend.get("tweet_volume") or 0),
                    url=f"https://x.com/search?q={quote_plus(trend.get('query') or name)}",
                    published_at=as_of,
                )
            )
        return signals
