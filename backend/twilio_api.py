"""Twilio's Messages API: the one sender of SMS and WhatsApp messages, and its one error mapping.

Used by the outbox's text deliverer (backend/messaging/adapters.py: follow-ups, receipts, staff
replies) and by the signed Twilio channel's bot replies (backend/rasa_ext/channels). Blocking
(the official client on requests); errors become IntegrationError:

* 21610 (the recipient replied STOP to our number) → `RecipientUnsubscribed` (permanent);
* 401/403 → permanent "credentials rejected";
* 429 → `RateLimited`, temporary, not retried before Retry-After (30 s without one);
* 5xx, timeouts, connection errors → temporary;
* any other refusal → permanent, with the status, Twilio's code and its reason with phone
  numbers and addresses redacted (Twilio's messages quote the number).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from backend.integrations import IntegrationError, RateLimited, retry_after
from backend.logging_setup import redact_text

DEFAULT_API_BASE = "https://api.twilio.com"
DEFAULT_RETRY_AFTER = timedelta(seconds=30)
TWILIO_UNSUBSCRIBED = 21610  # "Attempt to send to unsubscribed recipient"


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


class TwilioMessages:
    """Twilio's Messages API through the official client, against TWILIO_API_BASE."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        api_base: str = DEFAULT_API_BASE,
        timeout: float = 10.0,
        clock: Callable[[], datetime] = _now,
    ):
        self.http_client = _HeaderKeepingClient(timeout=timeout)
        self.client = Client(account_sid, auth_token, http_client=self.http_client)
        # The REST domain is replaceable so tests (and regional setups) can point it elsewhere.
        self.client.api.base_url = api_base.rstrip("/")
        self.clock = clock
        # its INFO lines carry the account SID and phone numbers in every URL
        logging.getLogger("twilio.http_client").setLevel(logging.WARNING)

    def send(self, *, to: str, from_: str, body: str, media_url: str | None = None) -> str:
        """Send one message; returns Twilio's message SID. Raises IntegrationError."""
        extra = {"media_url": [media_url]} if media_url else {}
        try:
            return self.client.messages.create(to=to, from_=from_, body=body, **extra).sid
        except TwilioRestException as exc:
            raise self.error(exc) from None  # exc.msg quotes the phone number: never re-raised
        except (TwilioException, requests.RequestException) as exc:
            raise IntegrationError(
                f"twilio: unreachable ({type(exc).__name__})", permanent=False
            ) from None

    def error(self, exc: TwilioRestException) -> IntegrationError:
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
                    self.http_client.last_headers, self.clock(), default=DEFAULT_RETRY_AFTER
                ),
            )
        if status >= 500:
            return IntegrationError(f"twilio: server error {status}", permanent=False)
        reason = str(exc.msg or "request rejected").removeprefix("Unable to create record: ")
        reason = redact_text(reason)[:200]
        return IntegrationError(f"twilio: {status} code {code}: {reason}", permanent=True)
