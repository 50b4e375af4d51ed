"""X (Twitter) API v2: recent counts and recent search per health query, trends by WOEID.

Auth: app-only bearer token. Limits: `x-rate-limit-*` headers, reset in epoch seconds, and
the plan's monthly cap on post reads: every post a search returns counts against it, so
searches shrink to what is left of `monthly_post_reads` and stop when it is spent.
Only aggregates leave this module: per query the 7-day count and the most engaged post's
text (handles and URLs are stripped later), per hashtag how often it co-occurred.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from urllib.parse import quote, quote_plus

from backend.trends.sources.base import RawSignal, TrendSource
from backend.trends.sources.http import HttpClient

MIN_COOCCURRING = 3  # a hashtag seen this often in one query's results becomes a signal
MIN_SEARCH, MAX_SEARCH = 10, 100  # max_results bounds of /2/tweets/search/recent
MAX_TRENDS = 50  # max_trends bound of /2/trends/by/woeid


def month_key(now: datetime) -> str:
    """The SourceBudget key under which one calendar month's post reads are counted (UTC)."""
    return f"post-reads:{now:%Y-%m}"


def _engagement(tweet: dict) -> int:
    metrics = tweet.get("public_metrics") or {}
    return sum(
        int(metrics.get(k, 0))
        for k in ("like_count", "retweet_count", "reply_count", "quote_count")
    )


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
        monthly_post_reads: int = 10000,
        posts_read: int = 0,
        posts_read_month: str = "",
    ):
        self.bearer_token = bearer_token
        self.queries = queries
        self.woeid = woeid
        self.base_url = base_url.rstrip("/")
        self.http = http or HttpClient("x")
        self._configured = configured
        self.monthly_post_reads = monthly_post_reads
        # posts already read in `posts_read_month` (from storage); a new month starts at 0
        self._used_before = {posts_read_month: posts_read} if posts_read_month else {}
        self._month = ""
        self._read_now = 0
        self._skipped: list[str] = []

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
        self._month, self._read_now, self._skipped = month_key(now), 0, []
        signals: list[RawSignal] = []
        for query in self.queries:
            signals.extend(self._query(query, now))
        if self.woeid:
            signals.extend(self._woeid_trends(now))
        return signals

    @property
    def posts_read(self) -> int:
        """Posts read this month, before and during the last fetch."""
        return self._used_before.get(self._month, 0) + self._read_now

    def quota_amounts(self) -> dict[str, int]:
        return {self._month: self._read_now} if self._read_now else {}

    def notes(self) -> str:
        if not self._month:
            return ""
        note = f"budget used: {self.posts_read} of {self.monthly_post_reads} post reads this month"
        if self._skipped:
            note += "; budget spent, searches skipped: " + ", ".join(self._skipped)
        return note

    def _query(self, query: str, now: datetime) -> list[RawSignal]:
        search = f"{query} -is:retweet lang:en"
        counts = self._get("/2/tweets/counts/recent", {"query": search, "granularity": "day"})
        total = int((counts.get("meta") or {}).get("total_tweet_count", 0))
        left = self.monthly_post_reads - self.posts_read
        tweets: list[dict] = []
        if left < MIN_SEARCH:
            self._skipped.append(query)
        else:
            found = self._get(
                "/2/tweets/search/recent",
                {
                    "query": search,
                    "max_results": min(MAX_SEARCH, left),
                    "tweet.fields": "created_at,public_metrics,entities",
                },
            )
            tweets = found.get("data") or []
            self._read_now += len(tweets)
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

    def _woeid_trends(self, now: datetime) -> list[RawSignal]:
        body = self._get(
            f"/2/trends/by/woeid/{quote(self.woeid, safe='')}",
            {"max_trends": MAX_TRENDS, "trend.fields": "trend_name,tweet_count"},
        )
        signals = []
        for trend in (body.get("data") if isinstance(body, dict) else None) or []:
            name = trend.get("trend_name") or ""
            if not name:
                continue
            signals.append(
                RawSignal(
                    source=self.name,
                    external_id=f"woeid:{self.woeid}:{name.lower()}",
                    topic=name,
                    text=name,
                    volume=int(trend.get("tweet_count") or 0),
                    url=f"https://x.com/search?q={quote_plus(name)}",
                    published_at=now,  # v2 trends carry no as-of time: they are current
                )
            )
        return signals
