"""Twilio's Messages API: the one sender of SMS and WhatsApp messages, and its one error mapping.

Used by the outbox's text deliverer (backend/messaging/adapters.py: follow-ups, receipts, staff
replies; `send`, blocking, the official client on requests) and by the signed Twilio channel's
bot replies (backend/rasa_ext/channels; `send_async`, the official client's `create_async` on
twilio's `AsyncTwilioHttpClient`, which retries temporary failures — 5xx, 429, connection
errors, timeouts — after the `retry_delays`). Errors become IntegrationError:

* 21610 (the recipient replied STOP to our number) → `RecipientUnsubscribed` (permanent);
* 401/403 → permanent "credentials rejected";
* 429 → `RateLimited`, temporary, not retried before Retry-After (30 s without one);
* 5xx, timeouts, connection errors → temporary;
* any other refusal → permanent, with the status, Twilio's code and its reason with phone
  numbers and addresses redacted (Twilio's messages quote the number).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import aiohttp
import requests
from aiohttp_retry import ListRetry, RetryClient
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from backend.integrations import IntegrationError, RateLimited, retry_after
from backend.logging_setup import redact_text

DEFAULT_API_BASE = "https://api.twilio.com"
DEFAULT_CONTENT_API_BASE = "https://content.twilio.com"
DEFAULT_RETRY_AFTER = timedelta(seconds=30)
TWILIO_UNSUBSCRIBED = 21610  # "Attempt to send to unsubscribed recipient"
RETRY_DELAYS = (1.0, 3.0)  # seconds before the 2nd and 3rd try of a temporary failure (async)


@dataclass(frozen=True)
class Content:
    """A Content API template to send instead of a plain body: its SID and variable values."""

    sid: str
    variables: dict[str, str]


def _extra(body: str, media_url: str | None, content: Content | None) -> dict:
    """The Messages create fields: Body, MediaUrl, or ContentSid with ContentVariables."""
    extra: dict = {"body": body} if body or not (media_url or content) else {}
    if media_url:
        extra["media_url"] = [media_url]
    if content is not None:
        extra["content_sid"] = content.sid
        extra["content_variables"] = json.dumps(content.variables, ensure_ascii=False)
    return extra


class RecipientUnsubscribed(IntegrationError):
    """The recipient opted out at the carrier/Twilio level (replied STOP)."""

    def __init__(self, message: str):
        super().__init__(message, permanent=True)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class _HeaderKeepingClient(TwilioHttpClient):
    """Twilio's HTTP client, keeping the last response's headers (Retry-After on a 429)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.last_headers: dict = {}

    def request(self, *args, **kwargs):
        response = super().request(*args, **kwargs)
        self.last_headers = dict(response.headers or {})
        return response


class _RetryingAsyncClient(AsyncTwilioHttpClient):
    """twilio's aiohttp client whose session retries temporary failures (ListRetry) and which
    keeps the last response's headers. Made inside the running event loop (aiohttp binds to it).
    """

    def __init__(self, *, timeout: float, retry_delays: tuple[float, ...]):
        super().__init__(timeout=timeout)
        self.last_headers: dict = {}
        self.session = RetryClient(
            client_session=self.session,
            retry_options=ListRetry(
                timeouts=[0.0, *retry_delays],  # [attempt] = pause before try attempt + 1
                statuses={429},  # 5xx are retried as well (retry_all_server_errors)
                exceptions={aiohttp.ClientConnectionError, asyncio.TimeoutError},
            ),
        )

    async def request(self, *args, **kwargs):
        response = await super().request(*args, **kwargs)
        self.last_headers = dict(response.headers or {})
        return response


class TwilioMessages:
    """Twilio's Messages API through the official client, against TWILIO_API_BASE."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        api_base: str = DEFAULT_API_BASE,
        timeout: float = 10.0,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        clock: Callable[[], datetime] = _now,
    ):
        self.account_sid, self._auth_token = account_sid, auth_token
        self.api_base = api_base.rstrip("/")
        self.timeout, self.retry_delays = timeout, retry_delays
        self.http_client = _HeaderKeepingClient(timeout=timeout)
        self.client = self._client(self.http_client)
        self.clock = clock
        self._async: tuple[asyncio.AbstractEventLoop, _RetryingAsyncClient, Client] | None = None
        # their INFO lines carry the account SID and phone numbers in every URL
        logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
        logging.getLogger("twilio.async_http_client").setLevel(logging.WARNING)

    def _client(self, http_client) -> Client:
        client = Client(self.account_sid, self._auth_token, http_client=http_client)
        # The REST domain is replaceable so tests (and regional setups) can point it elsewhere.
        client.api.base_url = self.api_base
        return client

    def send(
        self,
        *,
        to: str,
        from_: str,
        body: str,
        media_url: str | None = None,
        content: Content | None = None,
    ) -> str:
        """Send one message; returns Twilio's message SID. Raises IntegrationError."""
        extra = _extra(body, media_url, content)
        try:
            return self.client.messages.create(to=to, from_=from_, **extra).sid
        except TwilioRestException as exc:
            raise self.error(exc) from None  # exc.msg quotes the phone number: never re-raised
        except (TwilioException, requests.RequestException) as exc:
            raise IntegrationError(
                f"twilio: unreachable ({type(exc).__name__})", permanent=False
            ) from None

    async def send_async(
        self,
        *,
        to: str,
        from_: str,
        body: str,
        media_url: str | None = None,
        content: Content | None = None,
    ) -> str:
        """`send` on the event loop, temporary failures retried; raises IntegrationError."""
        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            http = _RetryingAsyncClient(timeout=self.timeout, retry_delays=self.retry_delays)
            self._async = (loop, http, self._client(http))
        _, http, client = self._async
        extra = _extra(body, media_url, content)
        try:
            message = await client.messages.create_async(to=to, from_=from_, **extra)
            return message.sid
        except TwilioRestException as exc:
            raise self.error(exc, headers=http.last_headers) from None
        except (TwilioException, aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise IntegrationError(
                f"twilio: unreachable ({type(exc).__name__})", permanent=False
            ) from None

    async def aclose(self) -> None:
        """Close the async client's connection pool (a worker shutting down, a test's end)."""
        if self._async is not None:
            await self._async[1].close()
            self._async = None

    def error(self, exc: TwilioRestException, *, headers: dict | None = None) -> IntegrationError:
        """The one mapping of Twilio's refusals (see the module docstring)."""
        status, code = exc.status or 0, exc.code
        if code == TWILIO_UNSUBSCRIBED:
            return RecipientUnsubscribed("twilio: recipient unsubscribed (21610)")
        if status in (401, 403):
            return IntegrationError(f"twilio: credentials rejected ({status})", permanent=True)
        if status == 429:
            return RateLimited(
                "twilio: rate limited (429)",
                retry_at=retry_after(
                    self.http_client.last_headers if headers is None else headers,
                    self.clock(),
                    default=DEFAULT_RETRY_AFTER,
                ),
            )
        if status >= 500:
            return IntegrationError(f"twilio: server error {status}", permanent=False)
        reason = str(exc.msg or "request rejected").removeprefix("Unable to create record: ")
        reason = redact_text(reason)[:200]
        return IntegrationError(f"twilio: {status} code {code}: {reason}", permanent=True)


class TwilioContent:
    """Twilio's Content API: creates the content templates interactive WhatsApp messages are
    sent with (`POST /v1/Content`; twilio 8.2's client can list and fetch them, not create).
    Blocking (requests); errors map like the Messages API's, without retries: the caller
    falls back to a numbered list and asks again later."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        api_base: str = DEFAULT_CONTENT_API_BASE,
        timeout: float = 10.0,
    ):
        self._auth = (account_sid, auth_token)
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout

    def create(self, template: dict) -> str:
        """Create one content template (friendly_name, language, variables, types); its HX SID."""
        try:
            response = requests.post(
                f"{self.api_base}/v1/Content", json=template, auth=self._auth, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise IntegrationError(
                f"twilio content: unreachable ({type(exc).__name__})", permanent=False
            ) from None
        if response.status_code in (401, 403):
            raise IntegrationError(
                f"twilio content: credentials rejected ({response.status_code})", permanent=True
            )
        if response.status_code >= 300:
            try:
                reason = str(response.json().get("message") or "")
            except ValueError:
                reason = ""
            raise IntegrationError(
                f"twilio content: {response.status_code}: {redact_text(reason)[:200]}",
                permanent=response.status_code < 500 and response.status_code != 429,
            )
        sid = str((response.json() or {}).get("sid") or "")
        if not sid.startswith("HX"):
            raise IntegrationError("twilio content: answer without a content SID", permanent=False)
        return sid
