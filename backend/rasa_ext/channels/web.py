"""The website's chat channels: Rasa's `rest` and `socketio`, accepting only signed chat ids.

Rasa's stock channels take any `sender`, so any web page could continue a WhatsApp customer's
conversation ("whatsapp:+1…": read or erase their data, order in their name). These subclasses
keep the stock names and paths (`/webhooks/rest/webhook`, `/socket.io`) and refuse, before Rasa
sees the message:

* a client over its quota (429 + Retry-After; per IP, then per chat id),
* a body that is too large or not a JSON object (413/400),
* a sender that is not a website chat id issued by the backend with its token (403;
  `backend.chat_ids`, POST /chat/session on the backend hands them out),
* a message that is not text (422) or is longer than CHAT_MAX_MESSAGE_CHARS (413).

The input channel name is always this channel's own (a client cannot claim `twilio_signed`).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from backend.chat_ids import verify_chat_id
from backend.config import Settings, get_settings
from backend.ratelimit import Limits, first_refusal

log = logging.getLogger(__name__)

BODY_OVERHEAD_BYTES = 4096  # sender, token, metadata around the message itself
REFUSED_EVENT = "message_refused"  # socket.io: {status, error, retry_after?}


@dataclass(frozen=True)
class Refusal:
    status: int
    error: str
    retry_after: int = 0


@dataclass(frozen=True)
class Accepted:
    sender: str
    text: str
    metadata: dict | None


class WebChatGate:
    """The checks every website chat message passes before Rasa sees it."""

    def __init__(self, *, settings: Settings, limits: Limits):
        self.secret = settings.chat_id_secret
        self.max_chars = settings.chat_max_message_chars
        self.max_body = settings.chat_max_message_chars * 4 + BODY_OVERHEAD_BYTES  # UTF-8
        self.limits = limits
        self.max_in_flight = settings.rate_limit_chat_concurrent_per_ip
        self._in_flight: dict[str, int] = {}

    @contextlib.contextmanager
    def in_flight(self, ip: str) -> Iterator[Refusal | None]:
        """A slot for one message of this IP while Rasa handles it (this process's event loop
        is the shared resource, so the count is per process); a refusal when none is free."""
        if self._in_flight.get(ip, 0) >= self.max_in_flight:
            yield Refusal(429, "too many messages at once: please wait for the answer", 1)
            return
        self._in_flight[ip] = self._in_flight.get(ip, 0) + 1
        try:
            yield None
        finally:
            left = self._in_flight.pop(ip) - 1
            if left:
                self._in_flight[ip] = left

    def quota_ip(self, ip: str) -> Refusal | None:
        return _quota((self.limits.chat_ip, ip or "unknown"))

    def quota_sender(self, sender: str) -> Refusal | None:
        """Counted only for proved senders, so forged ids cannot fill the counters."""
        return _quota((self.limits.chat_sender, sender))

    def sender(self, sender: object, token: object) -> Refusal | None:
        if self.secret and verify_chat_id(sender, token, secret=self.secret):
            return None
        log.info("chat id refused", extra={"channel": "web"})
        return Refusal(403, "unknown chat id: reload the page to start a new chat")

    def message(self, text: object) -> Refusal | None:
        if not isinstance(text, str):
            return Refusal(422, "message must be text")
        if len(text) > self.max_chars:
            return Refusal(
                413, f"message too long: at most {self.max_chars} characters, please shorten it"
            )
        return None

    def check_body(self, *, ip: str, raw: bytes) -> Accepted | Refusal:
        """Everything for one REST request body, quotas included."""
        refusal = self.quota_ip(ip)
        if refusal:
            return refusal
        if len(raw) > self.max_body:
            return Refusal(413, "message too long, please shorten it")
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return Refusal(400, "body must be a JSON object")
        if not isinstance(body, dict):
            return Refusal(400, "body must be a JSON object")
        sender = body.get("sender")
        refusal = (
            self.sender(sender, body.get("token"))
            or self.message(body.get("message"))
            or self.quota_sender(sender)
        )
        if refusal:
            return refusal
        metadata = body.get("metadata")
        return Accepted(sender, body["message"], metadata if isinstance(metadata, dict) else None)


def _quota(*checks) -> Refusal | None:
    decision = first_refusal(*checks)
    if decision.allowed:
        return None
    return Refusal(429, "too many messages: please wait a moment", decision.retry_after)


def _gate() -> WebChatGate:
    settings = get_settings()
    if not settings.chat_id_secret:
        log.error("CHAT_ID_SECRET is not set: every website chat message is refused")
    return WebChatGate(settings=settings, limits=Limits.from_settings(settings))


def webhook_quota() -> Callable[[Request], HTTPResponse | None]:
    """The per-IP webhook quota (RATE_LIMIT_WEBHOOK_PER_IP) for a Sanic route: a 429 response
    when the caller is over it, else None."""
    limiter = Limits.from_settings(get_settings()).webhook_ip

    def check(request: Request) -> HTTPResponse | None:
        refusal = _quota((limiter, request.remote_addr or request.ip))
        return refusal_response(refusal) if refusal else None

    return check


def refusal_response(refusal: Refusal) -> HTTPResponse:
    headers = {"Retry-After": str(refusal.retry_after)} if refusal.retry_after else None
    return response.json({"error": refusal.error}, status=refusal.status, headers=headers)


class SignedRestInput(RestInput):
    """`rest` (POST /webhooks/rest/webhook {sender, token, message, metadata?})."""

    def __init__(self, gate: WebChatGate | None = None):
        self._gate = gate

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> SignedRestInput:
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        gate = self._gate or _gate()
        webhook = Blueprint("signed_rest_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            ip = request.remote_addr or request.ip
            checked = gate.check_body(ip=ip, raw=request.body)
            if isinstance(checked, Refusal):
                return refusal_response(checked)
            collector = CollectingOutputChannel()
            with gate.in_flight(ip) as busy:
                if busy:
                    return refusal_response(busy)
                try:
                    await on_new_message(
                        UserMessage(
                            checked.text,
                            collector,
                            checked.sender,
                            input_channel=self.name(),
                            metadata=checked.metadata,
                        )
                    )
                except Exception:  # noqa: BLE001 - Rasa's own REST channel answers [] too
                    log.exception("chat message failed", extra={"channel": "rest"})
            return response.json(collector.messages)

        return webhook


class SignedSocketIOInput(SocketIOInput):
    """`socketio`: `session_request` must carry {session_id, token} of an issued chat id; the
    chat's messages then go to that id only (what the client writes into `user_uttered` as
    its session id is ignored)."""

    def __init__(self, *args: Any, gate: WebChatGate | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._gate = gate

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        gate = self._gate or _gate()
        sio = AsyncServer(
            async_mode="sanic", cors_allowed_origins=[], max_http_buffer_size=gate.max_body
        )
        webhook = SocketBlueprint(sio, self.socketio_path, "signed_socketio_webhook", __name__)
        self.sio = sio
        namespace = self.namespace

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        async def refuse(sid: str, refusal: Refusal) -> None:
            payload = {"status": refusal.status, "error": refusal.error}
            if refusal.retry_after:
                payload["retry_after"] = refusal.retry_after
            await sio.emit(REFUSED_EVENT, payload, room=sid, namespace=namespace)

        @sio.on("connect", namespace=namespace)
        async def connect(sid: str, environ: dict, auth: dict | None = None) -> bool:
            request = environ.get("sanic.request")
            ip = (request.remote_addr or request.ip) if request is not None else ""
            await sio.save_session(sid, {"ip": ip}, namespace=namespace)
            return True

        @sio.on("session_request", namespace=namespace)
        async def session_request(sid: str, data: Any) -> None:
            session = await sio.get_session(sid, namespace=namespace)
            data = data if isinstance(data, dict) else {}
            refusal = gate.quota_ip(session.get("ip", "")) or gate.sender(
                data.get("session_id"), data.get("token")
            )
            if refusal:
                await refuse(sid, refusal)
                return
            session["sender"] = data["session_id"]
            await sio.save_session(sid, session, namespace=namespace)
            # Awaited: Rasa 3.6 forgets to (RasaHQ/rasa#13027), so replies never reach the room.
            await sio.enter_room(sid, data["session_id"], namespace=namespace)
            await sio.emit("session_confirm", data["session_id"], room=sid, namespace=namespace)

        @sio.on(self.user_message_evt, namespace=namespace)
        async def handle_message(sid: str, data: Any) -> None:
            session = await sio.get_session(sid, namespace=namespace)
            sender = session.get("sender")  # proved in session_request
            data = data if isinstance(data, dict) else {}
            refusal = gate.quota_ip(session.get("ip", "")) or (
                Refusal(403, "send session_request with your chat id first")
                if sender is None
                else gate.message(data.get("message")) or gate.quota_sender(sender)
            )
            if refusal:
                await refuse(sid, refusal)
                return
            metadata = data.get(self.metadata_key)
            message = UserMessage(
                data["message"],
                SocketIOOutput(sio, self.bot_message_evt),
                sender,
                input_channel=self.name(),
                metadata=metadata if isinstance(metadata, dict) else None,
            )
            with gate.in_flight(session.get("ip", "")) as busy:
                if busy:
                    await refuse(sid, busy)
                    return
                await on_new_message(message)

        return webhook
