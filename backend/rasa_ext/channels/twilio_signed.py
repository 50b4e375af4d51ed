"""WhatsApp and SMS through Twilio, with every request's X-Twilio-Signature checked first.

Rasa's built-in `twilio` channel accepts any POST (anyone who knows the URL can speak as any
phone number, e.g. ask to erase someone else's data), blocks the event loop on each send and
cannot map a typed button number back. This channel, named `twilio_signed` (webhook
`/webhooks/twilio_signed/webhook`):

* refuses a request whose signature is missing or wrong (403) before Rasa sees it, and refuses
  everything (503) while the Twilio credentials are placeholders;
* turns a carrier opt-out word (STOP, UNSUBSCRIBE, …: the whole message) into `/opt_out`, so
  the opt-out action records the withdrawal whatever the classifier would have made of it;
* sends a reply's buttons on WhatsApp as tappable quick replies (up to 3 short titles) or a
  list picker (up to 10), through content templates it creates once with Twilio's Content
  API and sends with ContentSid + ContentVariables; elsewhere, with more buttons, with
  TWILIO_WHATSAPP_BUTTONS=numbered or when the Content API fails, as a numbered list. A tap
  (ButtonPayload / ListId) and a typed "2" both map back to that button's payload;
* sends product cards' pictures on WhatsApp as media messages (MediaUrl) with a short caption;
* handles each MessageSid once: a replayed signed request (or Twilio's re-delivery) is answered
  with an empty reply and never reaches Rasa;
* keeps those menus and MessageSids in Redis when REDIS_URL is set (`SET NX EX`, keys expire),
  so every worker and instance sees the same; without it, in this process's memory (bounded,
  expiring), which is right for the default single process;
* sends replies through the Twilio REST client in a worker thread, cut at Twilio's
  1,600-character limit, and logs a failed send with Twilio's status and error code only.

Settings come from the backend's settings (`TWILIO_*`); keys under the channel's entry in
credentials.yml override them.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import re
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import redis
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request, RequestParameters
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from backend import twilio_api
from backend.config import ConfigError, get_settings, is_placeholder
from backend.integrations import IntegrationError
from backend.logging_setup import install_record_redaction, log_event
from backend.rasa_ext.channels.web import webhook_quota

log = logging.getLogger(__name__)

CHANNEL_NAME = "twilio_signed"
WHATSAPP_PREFIX = "whatsapp:"
DEFAULT_API_BASE = "https://api.twilio.com"
MAX_BODY = 1600  # Twilio refuses longer bodies (error 21617)
OPT_OUT_PAYLOAD = "/opt_out"
# Twilio's default opt-out words; each must be the whole message (spaces and hyphens ignored)
STOP_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
BUTTON_NUMBER = re.compile(r"\s*(\d{1,2})\s*[.)]?\s*")
BUTTON_MEMORY_SENDERS = 10_000
BUTTON_MEMORY_SECONDS = 60 * 60  # domain.yml session_expiration_time: a new session, new menus
SEEN_MESSAGE_IDS = 10_000
REPLAY_SECONDS = 7 * 24 * 60 * 60  # a signed request replayed within a week is refused
REDIS_PREFIX = "hts:twilio"
SEND_RETRY_DELAYS = twilio_api.RETRY_DELAYS  # pauses before the 2nd and 3rd try of a reply
NOT_TEXT_REPLY = "Sorry, I can only read text messages here."
CREDENTIAL_KEYS = frozenset(
    {
        "account_sid",
        "auth_token",
        "twilio_number",
        "sms_number",
        "webhook_url",
        "api_base",
        "content_api_base",
        "whatsapp_buttons",
    }
)
BUTTON_STYLES = ("interactive", "numbered")
# WhatsApp's limits for interactive messages sent in the 24-hour session (Content API docs)
INTERACTIVE_BODY = 1024  # characters of the text above the buttons
QUICK_REPLY_MAX, QUICK_REPLY_TITLE = 3, 20  # in session: at most 3 quick-reply buttons
LIST_MAX, LIST_ITEM, LIST_DESCRIPTION, LIST_BUTTON = 10, 24, 72, "Choose"
SHORT_BODY = "Choose an option:"  # above the buttons when the text went first, on its own
TEMPLATE_SECONDS = 30 * 24 * 60 * 60  # a created template's SID is reused this long
TEMPLATE_RETRY_SECONDS = 5 * 60  # after a failed creation, numbered lists for this long


# --- inbound text --------------------------------------------------------------------------


class ExpiringLru:
    """A bounded map whose least recently used entries go first and whose entries expire."""

    def __init__(self, *, max_entries: int, ttl_seconds: float, clock=time.monotonic):
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    def put(self, key: str, value: Any) -> None:
        self._entries.pop(key, None)
        self._entries[key] = (self._clock() + self.ttl_seconds, value)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def get(self, key: str) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if self._clock() >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put_new(self, key: str, value: Any) -> bool:
        """Store only when absent (or expired); True when stored."""
        if self.get(key) is not None:
            return False
        self.put(key, value)
        return True

    def pop(self, key: str) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


class RedisExpiringMap:
    """The same map in Redis, shared by every worker and instance: JSON values, keys expire.

    Keys are hashed: sender ids are phone numbers and stay out of Redis key listings. The client
    is synchronous (like Rasa's Redis lock store): one round trip on loopback is ~0.1 ms.
    """

    def __init__(self, client: Any, *, namespace: str, ttl_seconds: float):
        self.client = client
        self.namespace = namespace
        self.ttl = max(1, int(ttl_seconds))

    def _key(self, key: str) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return f"{REDIS_PREFIX}:{self.namespace}:{digest}"

    def put(self, key: str, value: Any) -> None:
        self.client.set(self._key(key), json.dumps(value), ex=self.ttl)

    def put_new(self, key: str, value: Any) -> bool:
        return bool(self.client.set(self._key(key), json.dumps(value), ex=self.ttl, nx=True))

    def get(self, key: str) -> Any | None:
        raw = self.client.get(self._key(key))
        return None if raw is None else json.loads(raw)

    def pop(self, key: str) -> None:
        self.client.delete(self._key(key))


class ButtonMemory:
    """The button payloads of the last reply sent to each sender, so "2" can mean button 2."""

    def __init__(
        self,
        *,
        max_senders: int = BUTTON_MEMORY_SENDERS,
        ttl_seconds: float = BUTTON_MEMORY_SECONDS,
        clock=time.monotonic,
        store: ExpiringLru | RedisExpiringMap | None = None,
    ):
        if store is None:
            store = ExpiringLru(max_entries=max_senders, ttl_seconds=ttl_seconds, clock=clock)
        self._map = store

    @classmethod
    def in_redis(cls, client: Any, *, ttl_seconds: float = BUTTON_MEMORY_SECONDS) -> ButtonMemory:
        return cls(store=RedisExpiringMap(client, namespace="menu", ttl_seconds=ttl_seconds))

    def remember(self, sender: str, payloads: Iterable[str]) -> None:
        payloads = list(payloads)
        if payloads:
            self._map.put(sender, payloads)
        else:
            self._map.pop(sender)

    def forget(self, sender: str) -> None:
        self._map.pop(sender)

    def payload_for(self, sender: str, text: str) -> str | None:
        """The payload of the button whose number is the whole text, or None."""
        match = BUTTON_NUMBER.fullmatch(text)
        if not match:
            return None
        payloads = self._map.get(sender)
        index = int(match.group(1)) - 1
        if payloads is None or not 0 <= index < len(payloads):
            return None
        return payloads[index]

    def __len__(self) -> int:
        return len(self._map)


class SeenMessages:
    """MessageSids already handled; `claim` is atomic, so two workers never both handle one."""

    def __init__(self, store: ExpiringLru | RedisExpiringMap | None = None):
        if store is None:
            store = ExpiringLru(max_entries=SEEN_MESSAGE_IDS, ttl_seconds=REPLAY_SECONDS)
        self._map = store

    @classmethod
    def in_redis(cls, client: Any, *, ttl_seconds: float = REPLAY_SECONDS) -> SeenMessages:
        return cls(RedisExpiringMap(client, namespace="seen", ttl_seconds=ttl_seconds))

    def claim(self, message_sid: str) -> bool:
        """True the first time a MessageSid is seen (within the replay window)."""
        return self._map.put_new(message_sid, 1)

    def release(self, message_sid: str) -> None:
        """Forget a message that could not be handled: Twilio's retry may bring it again."""
        self._map.pop(message_sid)


def is_stop_word(text: str) -> bool:
    word = re.sub(r"[\s\-]+", "", text).rstrip(".!").upper()
    return word in STOP_WORDS


def inbound_text(body: str, *, sender: str, memory: ButtonMemory, opt_out_type: str = "") -> str:
    """What Rasa receives: `/opt_out` for a carrier stop word, a button's payload, or the text."""
    # Twilio's Advanced Opt-Out names the keyword type when the shop configured its own words
    if opt_out_type.strip().upper() == "STOP" or is_stop_word(body):
        return OPT_OUT_PAYLOAD
    payload = memory.payload_for(sender, body)
    if payload:
        return payload
    if not sender.startswith(WHATSAPP_PREFIX):
        body = body.replace("¡", "@")  # some SMS carriers deliver "@" as "¡" (GSM 03.38)
    return body.strip()


# --- outbound text -------------------------------------------------------------------------


def _units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1  # Twilio counts UTF-16 code units


def _fitting_prefix(text: str, limit: int) -> int:
    """How many characters of `text` fit in `limit` UTF-16 units."""
    used = 0
    for i, char in enumerate(text):
        used += _units(char)
        if used > limit:
            return i
    return len(text)


def split_body(text: str, limit: int = MAX_BODY) -> list[str]:
    """Parts of at most `limit` units, cut at a paragraph, line or word end where possible."""
    parts = []
    text = text.strip()
    while text:
        end = _fitting_prefix(text, limit)
        if end == len(text):
            parts.append(text)
            break
        cut = next(
            (at for sep in ("\n\n", "\n", " ") if (at := text.rfind(sep, 0, end + 1)) > 0),
            end,
        )
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return parts


def render_buttons(text: str | None, buttons: list[dict[str, Any]]) -> str:
    lines = [f"{i}. {b.get('title') or b.get('payload')}" for i, b in enumerate(buttons, 1)]
    menu = "\n".join([*lines, "(Reply with a number.)"])
    return f"{text}\n\n{menu}" if text else menu


def sender_address(recipient: str, *, whatsapp_from: str, sms_from: str) -> str:
    """Our number for this recipient: the WhatsApp sender for `whatsapp:` chats, else SMS."""
    bare = whatsapp_from.removeprefix(WHATSAPP_PREFIX)
    if recipient.startswith(WHATSAPP_PREFIX):
        return f"{WHATSAPP_PREFIX}{bare}"
    return sms_from or bare


def _var(number: int) -> str:
    return "{{" + str(number) + "}}"


def _cut(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class Interactive:
    """One interactive WhatsApp message: the template's shape (created once per shape) and this
    message's values for its variables. Item ids are the button numbers ("1", "2", …), so a
    tap comes back like a typed number and maps through the same ButtonMemory."""

    name: str
    template: dict
    variables: dict[str, str]


def interactive(text: str, buttons: list[dict[str, Any]]) -> Interactive | None:
    """Quick replies for up to 3 short titles, a list picker for up to 10; None otherwise."""
    titles = [str(b.get("title") or b.get("payload") or "") for b in buttons]
    count = len(titles)
    if not 1 <= count <= LIST_MAX or not all(t.strip() for t in titles):
        return None
    values = {"1": text}
    if count <= QUICK_REPLY_MAX and all(len(t) <= QUICK_REPLY_TITLE for t in titles):
        name = f"hts_quick_reply_{count}"
        actions = [{"title": _var(i + 2), "id": str(i + 1)} for i in range(count)]
        kind = {"twilio/quick-reply": {"body": "{{1}}", "actions": actions}}
        values.update({str(i + 2): t for i, t in enumerate(titles)})
    else:
        name = f"hts_list_picker_{count}"
        items = [
            {"item": _var(2 * i + 2), "id": str(i + 1), "description": _var(2 * i + 3)}
            for i in range(count)
        ]
        kind = {"twilio/list-picker": {"body": "{{1}}", "button": LIST_BUTTON, "items": items}}
        for i, title in enumerate(titles):
            values[str(2 * i + 2)] = _cut(title, LIST_ITEM)
            values[str(2 * i + 3)] = _cut(title, LIST_DESCRIPTION)
    template = {
        "friendly_name": name,
        "language": "en",
        # samples (required at creation) and the fallback values
        "variables": {k: f"Option {k}" for k in values},
        "types": {**kind, "twilio/text": {"body": "{{1}}"}},
    }
    return Interactive(name, template, values)


class ContentTemplates:
    """The SIDs of the interactive templates, created on first use through `create` (Twilio's
    Content API) and kept (in Redis when REDIS_URL is set, so every worker reuses them). A
    failed creation is not retried for TEMPLATE_RETRY_SECONDS: numbered lists meanwhile."""

    def __init__(
        self,
        create: Callable[[dict], str],
        *,
        store: ExpiringLru | RedisExpiringMap | None = None,
        clock=time.monotonic,
    ):
        self._create = create
        self._sids = store or ExpiringLru(max_entries=64, ttl_seconds=TEMPLATE_SECONDS)
        self._failed = ExpiringLru(max_entries=64, ttl_seconds=TEMPLATE_RETRY_SECONDS, clock=clock)

    def known(self, message: Interactive) -> str | None:
        """The template's SID when it was created already (no call to Twilio)."""
        return self._sids.get(message.name)

    def sid_for(self, message: Interactive) -> str | None:
        """The template's SID, created on first use (blocking); None while creation fails."""
        sid = self._sids.get(message.name)
        if sid or self._failed.get(message.name):
            return sid
        try:
            sid = self._create(message.template)
        except IntegrationError as exc:
            self._failed.put(message.name, 1)
            log_event(
                log,
                f"twilio content template not created: {exc.message}",
                logging.WARNING,
                error=exc.message,
            )
            return None
        self._sids.put(message.name, sid)
        return sid


class MessageSender(ABC):
    """Sends one SMS/WhatsApp message; raises IntegrationError."""

    @abstractmethod
    def send(
        self,
        *,
        to: str,
        from_: str,
        body: str,
        media_url: str | None = None,
        content: twilio_api.Content | None = None,
    ) -> str:
        """Send one message (blocking); returns the provider's message id."""

    async def send_async(
        self,
        *,
        to: str,
        from_: str,
        body: str,
        media_url: str | None = None,
        content: twilio_api.Content | None = None,
    ) -> str:
        """Send from the event loop; a blocking sender runs in the default executor."""
        send = functools.partial(
            self.send, to=to, from_=from_, body=body, media_url=media_url, content=content
        )
        return await asyncio.get_running_loop().run_in_executor(None, send)


class TwilioMessages(twilio_api.TwilioMessages, MessageSender):
    """The one Twilio sender (backend/twilio_api.py, one error mapping) as this channel's sender."""


class SignedTwilioOutput(OutputChannel):
    """Replies of one bot turn: each message numbered-buttons, cut to size, sent without
    blocking the event loop (the sender retries temporary failures itself)."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    def __init__(
        self,
        *,
        sender: MessageSender | None,
        whatsapp_from: str,
        sms_from: str,
        memory: ButtonMemory,
        templates: ContentTemplates | None = None,
    ):
        self.sender = sender
        self.whatsapp_from = whatsapp_from
        self.sms_from = sms_from
        self.memory = memory
        self.templates = templates  # None: numbered lists only
        self._turn_recipients: set[str] = set()

    def _start_turn(self, recipient_id: str) -> None:
        # A new reply replaces the previous menu: a "2" answering "how many?" stays a 2.
        if recipient_id not in self._turn_recipients:
            self._turn_recipients.add(recipient_id)
            self.memory.forget(recipient_id)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        self._start_turn(recipient_id)
        for part in split_body(text):
            await self._deliver(recipient_id, body=part)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        self._start_turn(recipient_id)
        self.memory.remember(recipient_id, [b.get("payload") or b.get("title") for b in buttons])
        if await self._send_interactive(recipient_id, text or "", buttons):
            return
        for part in split_body(render_buttons(text, buttons)):
            await self._deliver(recipient_id, body=part)

    async def _send_interactive(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]]
    ) -> bool:
        """Quick replies or a list picker on WhatsApp; False when the numbered list must do."""
        if self.templates is None or self.sender is None:
            return False
        if not recipient_id.startswith(WHATSAPP_PREFIX):
            return False  # SMS has no buttons
        body = text.strip()
        fits = 0 < len(body) <= INTERACTIVE_BODY
        message = interactive(body if fits else SHORT_BODY, buttons)
        if message is None:
            return False
        sid = self.templates.known(message)
        if sid is None:  # first use of this shape: created once, off the event loop
            loop = asyncio.get_running_loop()
            sid = await loop.run_in_executor(None, self.templates.sid_for, message)
        if sid is None:
            return False
        if not fits and body:  # a long text goes first, on its own
            for part in split_body(body):
                await self._deliver(recipient_id, body=part)
        content = twilio_api.Content(sid, message.variables)
        return await self._deliver(recipient_id, body="", content=content)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        self._start_turn(recipient_id)
        await self._deliver(recipient_id, body="", media_url=image)

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        """Product cards: each picture as a WhatsApp media message with a one-line caption.
        Other custom payloads (and cards on SMS) are for the website widget: never sent as
        JSON text, which is what Rasa's default would do."""
        self._start_turn(recipient_id)
        if not recipient_id.startswith(WHATSAPP_PREFIX):
            return
        for card in (json_message or {}).get("cards") or []:
            image = card.get("image_url")
            if isinstance(image, str) and image.startswith(("https://", "http://")):
                caption = f"{card.get('name')}: {card.get('price')}, {card.get('stock')}"
                await self._deliver(recipient_id, body=caption[:MAX_BODY], media_url=image)

    async def _deliver(
        self,
        recipient_id: str,
        *,
        body: str,
        media_url: str | None = None,
        content: twilio_api.Content | None = None,
    ) -> bool:
        """Send one message; log a failure (after the sender's retries) without the number."""
        if self.sender is None:
            log_event(log, "twilio not configured: reply dropped", logging.WARNING)
            return False
        try:
            await self.sender.send_async(
                to=recipient_id,
                from_=sender_address(
                    recipient_id, whatsapp_from=self.whatsapp_from, sms_from=self.sms_from
                ),
                body=body,
                media_url=media_url,
                content=content,
            )
            return True
        except IntegrationError as exc:
            # the fields are lost in Rasa's own log format: the (number-free) error is
            # repeated in the message
            log_event(
                log,
                f"twilio send failed: {exc.message}",
                logging.ERROR,
                error=exc.message,
                permanent=exc.permanent,
            )
            return False


# --- the channel ---------------------------------------------------------------------------


def _form_params(request: Request) -> RequestParameters:
    """The POST form with blank fields kept: Twilio signs `FromCity=` too, Sanic drops it."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return RequestParameters()
    body = request.body.decode("utf-8", errors="replace")
    return RequestParameters(parse_qs(body, keep_blank_values=True))


def _twiml(message: str | None = None) -> HTTPResponse:
    """A TwiML answer built by twilio's MessagingResponse, which escapes the text."""
    reply = MessagingResponse()
    if message:
        reply.message(message)
    return response.text(reply.to_xml(), content_type="text/xml")


def shared_state(redis_url: str) -> dict[str, Any]:
    """Menus and MessageSids in Redis when REDIS_URL is set (several workers/instances)."""
    if not redis_url:
        return {}
    client = redis.Redis.from_url(redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
    return {
        "memory": ButtonMemory.in_redis(client),
        "seen": SeenMessages.in_redis(client),
        "template_store": RedisExpiringMap(
            client, namespace="content", ttl_seconds=TEMPLATE_SECONDS
        ),
    }


class SignedTwilioInput(InputChannel):
    """Twilio webhook for WhatsApp and SMS that only trusts requests signed with our token."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> SignedTwilioInput:
        """Backend settings (TWILIO_*), overridden by non-empty keys in credentials.yml."""
        settings = get_settings()
        given = {k: str(v).strip() for k, v in (credentials or {}).items() if v not in (None, "")}
        unknown = sorted(set(given) - CREDENTIAL_KEYS)
        if unknown:
            raise ConfigError(
                f"credentials.yml {cls.__module__}.{cls.__name__}: unknown keys {unknown}; "
                f"allowed: {sorted(CREDENTIAL_KEYS)}"
            )
        channel = cls(
            account_sid=given.get("account_sid", settings.twilio_account_sid),
            auth_token=given.get("auth_token", settings.twilio_auth_token),
            whatsapp_from=given.get("twilio_number", settings.twilio_whatsapp_from),
            sms_from=given.get("sms_number", settings.twilio_sms_from),
            webhook_url=given.get("webhook_url", settings.twilio_webhook_url),
            api_base=given.get("api_base", settings.twilio_api_base),
            content_api_base=given.get("content_api_base", settings.twilio_content_api_base),
            whatsapp_buttons=given.get("whatsapp_buttons", settings.twilio_whatsapp_buttons),
            **shared_state(settings.redis_url),
        )
        # The Rasa process has no redaction of its own: its debug lines quote sender ids
        # (phone numbers) and message text. Same layer the action server installs.
        install_record_redaction([*settings.secret_values(), channel.auth_token])
        return channel

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        whatsapp_from: str = "",
        sms_from: str = "",
        webhook_url: str = "",
        api_base: str = DEFAULT_API_BASE,
        content_api_base: str = twilio_api.DEFAULT_CONTENT_API_BASE,
        whatsapp_buttons: str = "interactive",
        sender: MessageSender | None = None,
        memory: ButtonMemory | None = None,
        seen: SeenMessages | None = None,
        templates: ContentTemplates | None = None,
        template_store: RedisExpiringMap | None = None,
        retry_delays: tuple[float, ...] = SEND_RETRY_DELAYS,
    ):
        if webhook_url and not webhook_url.startswith(("https://", "http://")):
            raise ConfigError("TWILIO_WEBHOOK_URL must be the full http(s):// URL set in Twilio")
        if whatsapp_buttons not in BUTTON_STYLES:
            raise ConfigError(f"TWILIO_WHATSAPP_BUTTONS must be one of {', '.join(BUTTON_STYLES)}")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.whatsapp_from = whatsapp_from
        self.sms_from = sms_from
        self.webhook_url = webhook_url
        self.configured = not (is_placeholder(account_sid) or is_placeholder(auth_token))
        self.validator = RequestValidator(auth_token) if self.configured else None
        if sender is None and self.configured:
            sender = TwilioMessages(
                account_sid=account_sid,
                auth_token=auth_token,
                api_base=api_base,
                retry_delays=retry_delays,
            )
        self.sender = sender
        if templates is None and self.configured and whatsapp_buttons == "interactive":
            content = twilio_api.TwilioContent(
                account_sid=account_sid, auth_token=auth_token, api_base=content_api_base
            )
            templates = ContentTemplates(content.create, store=template_store)
        self.templates = templates if whatsapp_buttons == "interactive" else None
        self.memory = ButtonMemory() if memory is None else memory
        # Twilio may deliver one message twice (its fallback URL after a slow answer), and a
        # captured signed request stays valid forever: each MessageSid is handled once.
        self.seen = SeenMessages() if seen is None else seen

    def get_output_channel(self) -> SignedTwilioOutput:
        return SignedTwilioOutput(
            sender=self.sender,
            whatsapp_from=self.whatsapp_from,
            sms_from=self.sms_from,
            memory=self.memory,
            templates=self.templates,
        )

    def signed_url(self, request: Request) -> str:
        """The URL Twilio called: TWILIO_WEBHOOK_URL behind a proxy, else what Sanic saw."""
        if not self.webhook_url:
            return request.url
        if request.query_string and "?" not in self.webhook_url:
            return f"{self.webhook_url}?{request.query_string}"
        return self.webhook_url

    def refusal(self, request: Request, params: RequestParameters) -> HTTPResponse | None:
        """503 while not configured, 403 without a valid signature; None when trusted."""
        if not self.configured:
            return response.text("twilio not configured", status=503)
        signature = request.headers.get("X-Twilio-Signature")
        reason = None
        if not signature:
            reason = "missing X-Twilio-Signature"
        elif not self.validator.validate(self.signed_url(request), params, signature):
            reason = "invalid X-Twilio-Signature"
        if reason:
            log_event(log, f"twilio request refused: {reason}", logging.WARNING, reason=reason)
            return response.text(reason, status=403)
        return None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("twilio_signed_webhook", __name__)
        over_quota = webhook_quota()  # per IP, before any work (RATE_LIMIT_WEBHOOK_PER_IP)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok", "configured": self.configured})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            limited = over_quota(request)
            if limited is not None:
                return limited
            params = _form_params(request)
            refused = self.refusal(request, params)
            if refused is not None:
                return refused
            sender = (params.get("From") or "").strip()
            if not sender:
                return response.text("missing From", status=400)
            message_sid = params.get("MessageSid") or ""
            # a tapped quick reply / list item names its id: the button's number (interactive)
            body = params.get("ButtonPayload") or params.get("ListId") or params.get("Body") or ""
            text = inbound_text(
                body,
                sender=sender,
                memory=self.memory,
                opt_out_type=params.get("OptOutType") or "",
            )
            if not text:
                return _twiml(NOT_TEXT_REPLY)  # media or location without a caption
            if message_sid and not self.seen.claim(message_sid):
                log_event(log, "twilio message refused: already handled", reason="replay")
                return _twiml()
            try:
                await on_new_message(
                    UserMessage(
                        text,
                        self.get_output_channel(),
                        sender,
                        input_channel=self.name(),
                        message_id=message_sid or None,
                    )
                )
            except Exception:  # noqa: BLE001 - Twilio gets a 500, the log the cause (redacted)
                log.exception("twilio message could not be handled")
                if message_sid:
                    self.seen.release(message_sid)  # Twilio's fallback URL may try it again
                return response.text("message could not be handled", status=500)
            return _twiml()

        return webhook
