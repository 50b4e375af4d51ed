"""The error types raised at the boundary of every outside service, and their shared parts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime


class IntegrationError(Exception):
    """An outside service failed; `permanent` errors are not retried (bad credentials/input)."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


class RateLimited(IntegrationError):
    """The service said "too many requests"; do not call it again before `retry_at`.

    The outbox and the trend sources both honour `retry_at`.
    """

    def __init__(self, message: str, *, retry_at: datetime):
        super().__init__(message, permanent=False)
        self.retry_at = retry_at


def retry_after(headers, now: datetime, *, default: timedelta) -> datetime:
    """`Retry-After` (seconds or an HTTP date) as a time; `now + default` when absent/unreadable."""
    after = ((headers or {}).get("Retry-After") or "").strip()
    if after.isdigit():
        return now + timedelta(seconds=int(after))
    if after:
        try:
            when = parsedate_to_datetime(after)
            return max(now, when if when.tzinfo else when.replace(tzinfo=timezone.utc))
        except (TypeError, ValueError):
            pass
    return now + default
