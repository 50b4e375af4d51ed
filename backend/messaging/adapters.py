"""Email (SendGrid v3) and SMS/WhatsApp (Twilio) senders, and the local stand-ins.

`email_sender_for` / `text_sender_for` pick the real provider when real credentials are set and
the local sender otherwise. The local sender sends nothing: the outbox row itself is the record
(status `sent`, provider_ref `local:<kind>:<outbox id>`, the final text in its payload `sent`),
listed by `backend outbox list`.

Errors become IntegrationError: 401/403 → permanent "credentials rejected"; 429 → temporary,
not retried before Retry-After; 5xx, timeouts and connection errors → temporary; other 4xx →
permanent with the provider's message (addresses and numbers redacted). Twilio's mapping lives
with the one Twilio sender (backend/twilio_api.py): its 21610 (the recipient replied STOP to our
number) is `RecipientUnsubscribed`, which the deliverer turns into a recorded withdrawal.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import requests

from backend.config import Settings
from backend.integrations import (  # noqa: F401 - RateLimited: the error type callers know
    IntegrationError,
    RateLimited,
    call_json_api,
    raise_for_status,
    retry_after,
)
from backend.logging_setup import redact_text
from backend.messaging.gate import WHATSAPP_PREFIX, Outgoing
from backend.twilio_api import (  # noqa: F401 - the deliverer catches RecipientUnsubscribed here
    TWILIO_UNSUBSCRIBED,
    RecipientUnsubscribed,
    TwilioMessages,
)

DEFAULT_RETRY_AFTER = timedelta(seconds=30)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def retry_at(headers, now: datetime) -> datetime:
    return retry_after(headers, now, default=DEFAULT_RETRY_AFTER)


class MessageSender(abc.ABC):
    """Sends one final message; returns the provider's reference."""

    name: str

    @property
    def local(self) -> bool:
        return self.name == "local"

    @abc.abstractmethod
    def send(self, message: Outgoing, *, ref: str) -> str:
        """Send `message`; `ref` is our outbox reference (`<kind>:<id>`)."""


class LocalSender(MessageSender):
    """No provider configured: nothing leaves the machine; the outbox row is the record."""

    name = "local"

    def send(self, message: Outgoing, *, ref: str) -> str:
        return f"local:{ref}"


# --- SendGrid ---------------------------------------------------------------------------------


class SendGridEmail(MessageSender):
    """SendGrid v3 `POST /v3/mail/send` (202 Accepted, the id in X-Message-Id)."""

    name = "sendgrid"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        sender: str,
        sender_name: str = "",
        http: requests.Session | None = None,
        timeout: tuple[float, float] = (5.0, 20.0),
        clock: Callable[[], datetime] = _now,
    ):
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.sender = sender
        self.sender_name = sender_name
        self.http = http or requests.Session()
        self.timeout = timeout
        self.clock = clock

    def body(self, message: Outgoing, *, ref: str) -> dict:
        sender = {"email": self.sender}
        if self.sender_name:
            sender["name"] = self.sender_name
        data: dict = {
            "personalizations": [{"to": [{"email": message.to}]}],
            "from": sender,
            "subject": message.subject,
            "content": [{"type": "text/plain", "value": message.body}],
            "custom_args": {"outbox_ref": ref},
        }
        if message.unsubscribe_url:
            # One-click unsubscribe (RFC 8058): mail clients POST to the same link.
            data["headers"] = {
                "List-Unsubscribe": f"<{message.unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
        return data

    def send(self, message: Outgoing, *, ref: str) -> str:
        response = call_json_api(
            self.http,
            "sendgrid",
            "POST",
            f"{self.base_url}/v3/mail/send",
            token=self._api_key,
            body=self.body(message, ref=ref),
            timeout=self.timeout,
        )
        raise_for_status(
            "sendgrid",
            response,
            now=self.clock(),
            default_retry=DEFAULT_RETRY_AFTER,
            message=_sendgrid_message,
        )
        message_id = response.headers.get("X-Message-Id") or ""
        return f"sendgrid:{message_id}" if message_id else f"sendgrid:accepted:{ref}"


def _sendgrid_message(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        data = {}
    errors = data.get("errors") if isinstance(data, dict) else None
    message = ""
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        message = str(errors[0].get("message") or "")
    return redact_text(message or response.reason or "request rejected")[:200]


# --- Twilio -----------------------------------------------------------------------------------


class TwilioText(MessageSender):
    """SMS and WhatsApp through Twilio's Messages API (backend/twilio_api.py: the one sender)."""

    name = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        api_base: str,
        sms_from: str,
        whatsapp_from: str,
        timeout: float = 20.0,
        clock: Callable[[], datetime] = _now,
    ):
        self.api = TwilioMessages(
            account_sid=account_sid,
            auth_token=auth_token,
            api_base=api_base,
            timeout=timeout,
            clock=clock,
        )
        self.sms_from = sms_from
        self.whatsapp_from = whatsapp_from.removeprefix(WHATSAPP_PREFIX)

    def sender_for(self, message: Outgoing) -> str:
        if message.channel == "whatsapp":
            if not self.whatsapp_from:
                raise IntegrationError("twilio: TWILIO_WHATSAPP_FROM is not set", permanent=True)
            return f"{WHATSAPP_PREFIX}{self.whatsapp_from}"
        if not self.sms_from:
            raise IntegrationError("twilio: TWILIO_SMS_FROM is not set", permanent=True)
        return self.sms_from

    def send(self, message: Outgoing, *, ref: str) -> str:
        from_ = self.sender_for(message)
        return f"twilio:{self.api.send(to=message.to, from_=from_, body=message.body)}"


# --- choosing ---------------------------------------------------------------------------------


def email_sender_for(settings: Settings) -> MessageSender:
    """SendGrid with a real API key, else the local outbox."""
    if settings.configured("sendgrid_api_key"):
        return SendGridEmail(
            api_key=settings.sendgrid_api_key,
            base_url=settings.sendgrid_api_base,
            sender=settings.email_from,
            sender_name=settings.shop_name,
        )
    return LocalSender()


def text_sender_for(settings: Settings) -> MessageSender:
    """Twilio with a real account SID and auth token, else the local outbox."""
    if settings.configured("twilio_account_sid", "twilio_auth_token"):
        return TwilioText(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            api_base=settings.twilio_api_base,
            sms_from=settings.twilio_sms_from,
            whatsapp_from=settings.twilio_whatsapp_from,
        )
    return LocalSender()
