"""The error types raised at the boundary of every outside service, and their shared parts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import requests


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


def call_json_api(
    http, service: str, method: str, url: str, *, token: str, body: dict, timeout: float
):
    """One bearer-token JSON request to an outside API; network failures as IntegrationError."""
    try:
        return http.request(
            method,
            url,
            json=body,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "Content-Type": "application/json",
            },
            timeout=timeout,
        )
    except requests.Timeout:
        raise IntegrationError(f"{service}: timed out") from None
    except requests.RequestException as exc:
        raise IntegrationError(f"{service}: connection failed ({type(exc).__name__})") from None


def raise_for_status(
    service: str, response, *, now: datetime, default_retry: timedelta, message
) -> None:
    """The shared mapping of an HTTP error answer: 401/403 and other 4xx permanent (with the
    provider's own `message(response)`), 429 retried after Retry-After, 5xx retried."""
    status = response.status_code
    if status < 300:
        return
    if status in (401, 403):
        raise IntegrationError(f"{service}: credentials rejected ({status})", permanent=True)
    if status == 429:
        raise RateLimited(
            f"{service}: rate limited (429)",
            retry_at=retry_after(response.headers, now, default=default_retry),
        )
    if status >= 500:
        raise IntegrationError(f"{service}: server error {status}")
    raise IntegrationError(f"{service}: {status} {message(response)}", permanent=True)
