"""The adapter interface every trend source implements, its signal type and its errors."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime

from backend.integrations import IntegrationError, RateLimited  # noqa: F401 - re-exported


@dataclass(frozen=True)
class RawSignal:
    """One aggregate signal from a platform: a topic/hashtag with its volume, never a person.

    `text` feeds keyword extraction (it is not stored); `snippet` is cut to 280 characters
    with @handles and URLs removed before it is stored.
    """

    source: str
    external_id: str  # stable per topic (e.g. "query:collagen") or per organisation post
    topic: str
    text: str = ""
    snippet: str = ""
    volume: int = 1
    url: str | None = None
    published_at: datetime | None = None


class CredentialsRejected(IntegrationError):
    """The platform refused the token/key (401/403 or an OAuth error): fix the settings."""

    def __init__(self, message: str = "credentials rejected"):
        super().__init__(message, permanent=True)


class VersionRetired(IntegrationError):
    """The platform no longer serves the API version we send (LinkedIn: HTTP 426)."""

    def __init__(self, message: str):
        super().__init__(message, permanent=True)


class TrendSource(abc.ABC):
    """A platform that yields aggregate trend signals."""

    name: str

    @property
    def configured(self) -> bool:
        """False when credentials are missing or placeholders: then fetch() is never called."""
        return not self.missing()

    def missing(self) -> str:
        """Why the source is not configured ('' when it is)."""
        return ""

    @abc.abstractmethod
    def fetch(self, now: datetime) -> list[RawSignal]:
        """Current signals; raises IntegrationError (CredentialsRejected, RateLimited, …)."""

    def quota_uses(self) -> dict[str, datetime]:
        """Quota units used by the last fetch (key → when), stored as SourceBudget rows."""
        return {}

    def quota_amounts(self) -> dict[str, int]:
        """Counted quota used by the last fetch (key → how many), added to SourceBudget rows."""
        return {}

    def notes(self) -> str:
        """Anything partial about the last fetch (a failed feed, a refused hashtag)."""
        return ""


@dataclass
class FakeSource(TrendSource):
    """In-memory source for tests: returns `signals`, or raises `error`; records calls."""

    name: str = "fake"
    signals: list[RawSignal] = field(default_factory=list)
    error: Exception | None = None
    not_configured: str = ""
    calls: list[datetime] = field(default_factory=list)

    def missing(self) -> str:
        return self.not_configured

    def fetch(self, now: datetime) -> list[RawSignal]:
        self.calls.append(now)
        if self.error is not None:
            raise self.error
        return list(self.signals)
