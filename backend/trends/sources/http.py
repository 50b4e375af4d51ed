"""The one HTTP chokepoint of the trend sources: timeouts, one quick retry, error mapping.

401/403 → CredentialsRejected; 426 → VersionRetired (the version header names a version the
platform retired); 429 → RateLimited with the time the platform gave (X's
`x-rate-limit-reset` epoch seconds, else `Retry-After` seconds or date, else 15 minutes);
5xx and timeouts → a temporary IntegrationError after one retry; other 4xx → a permanent
IntegrationError naming the platform's message. We never sleep for long: a rate-limited
source is skipped until its retry time by the ingest job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import requests

from backend.integrations import IntegrationError, retry_after
from backend.trends.sources.base import CredentialsRejected, RateLimited, VersionRetired

DEFAULT_BACKOFF = timedelta(minutes=15)
# A per-platform hook may turn a response into an error before the generic mapping
# (the Graph API reports throttling as HTTP 400/403 with an error code).
ErrorHook = Callable[[requests.Response, datetime], IntegrationError | None]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def retry_at_from_headers(headers, now: datetime) -> datetime:
    reset = headers.get("x-rate-limit-reset")
    if reset and reset.strip().isdigit():
        return max(now, datetime.fromtimestamp(int(reset), tz=timezone.utc))
    return retry_after(headers, now, default=DEFAULT_BACKOFF)


def error_message(response: requests.Response) -> str:
    """The platform's own error text, shortened (X: detail/title, Graph: error.message)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:200]
        for key in ("detail", "message", "title"):
            if body.get(key):
                return str(body[key])[:200]
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message") or errors[0].get("detail") or "")[:200]
    return response.reason or "error"


class HttpClient:
    def __init__(
        self,
        platform: str,
        *,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        retry_pause: float = 0.5,
        error_hook: ErrorHook | None = None,
        clock: Callable[[], datetime] = _now,
    ):
        self.platform = platform
        self.session = session or requests.Session()
        self.timeout = timeout
        self.retry_pause = retry_pause
        self.error_hook = error_hook
        self.clock = clock

    def get_json(self, url: str, *, params: dict | None = None, headers: dict | None = None):
        last: IntegrationError | None = None
        for attempt in range(2):  # one quick retry for 5xx/timeouts; the next run retries again
            if attempt:
                time.sleep(self.retry_pause)
            try:
                response = self.session.get(
                    url, params=params, headers=headers, timeout=self.timeout
                )
            except requests.Timeout:
                last = IntegrationError(f"{self.platform}: timed out (retried next run)")
                continue
            except requests.RequestException as exc:
                last = IntegrationError(f"{self.platform}: connection failed: {type(exc).__name__}")
                continue
            error = self._error(response)
            if error is None:
                try:
                    return response.json()
                except ValueError:
                    raise IntegrationError(f"{self.platform}: response was not JSON") from None
            if error.permanent or isinstance(error, RateLimited):
                raise error
            last = error
        assert last is not None
        raise last

    def get_bytes(self, url: str, *, headers: dict | None = None) -> bytes:
        try:
            response = self.session.get(url, headers=headers, timeout=self.timeout)
        except requests.Timeout:
            raise IntegrationError(f"{self.platform}: timed out (retried next run)") from None
        except requests.RequestException as exc:
            raise IntegrationError(
                f"{self.platform}: connection failed: {type(exc).__name__}"
            ) from None
        error = self._error(response)
        if error is not None:
            raise error
        return response.content

    def _error(self, response: requests.Response) -> IntegrationError | None:
        now = self.clock()
        if self.error_hook is not None:
            hooked = self.error_hook(response, now)
            if hooked is not None:
                return hooked
        status = response.status_code
        if status < 400:
            return None
        if status in (401, 403):
            return CredentialsRejected(f"{self.platform}: credentials rejected ({status})")
        if status == 426:  # "Upgrade Required": the version header names a retired version
            return VersionRetired(
                f"{self.platform}: API version retired ({error_message(response)})"
            )
        if status == 429:
            retry_at = retry_at_from_headers(response.headers, now)
            return RateLimited(f"{self.platform}: rate limited", retry_at=retry_at)
        if status >= 500:
            return IntegrationError(f"{self.platform}: server error {status} (retried next run)")
        return IntegrationError(
            f"{self.platform}: {status} {error_message(response)}", permanent=True
        )
