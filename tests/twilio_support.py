"""Helpers shared by the signed Twilio channel tests (not a test module)."""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from urllib.parse import parse_qs

import httpx
import pytest
from rasa.core.channels.channel import register
from sanic import Sanic
from twilio.request_validator import RequestValidator
from werkzeug import Response

from backend.integrations import IntegrationError
from backend.rasa_ext.channels.twilio_signed import MessageSender, SignedTwilioInput

ACCOUNT_SID = "AC" + "1f" * 16
AUTH_TOKEN = "5c1d0e4b9a8f7e6d5c4b3a2f1e0d9c8b"
SENDER = "whatsapp:+14155550123"
OUR_NUMBER = "+14155238886"
WEBHOOK_PATH = "/webhooks/twilio_signed/webhook"
INTERNAL_URL = f"http://rasa.internal:5005{WEBHOOK_PATH}"  # what Sanic sees behind the proxy
PUBLIC_URL = f"https://bot.shop.test{WEBHOOK_PATH}"  # what Twilio called
GOAL_BUTTONS = [
    {"title": "Lose weight", "payload": '/choose_goal{"goal":"weight_loss"}'},
    {"title": "Blood pressure", "payload": '/choose_goal{"goal":"blood_pressure"}'},
    {"title": "Blood sugar", "payload": '/choose_goal{"goal":"diabetes"}'},
]


class FakeSender(MessageSender):
    """Records every send and the thread it ran on; can fail with queued errors."""

    def __init__(self, errors: list[IntegrationError] | None = None):
        self.sent: list[dict] = []
        self.threads: list[int] = []
        self.errors = list(errors or [])

    def send(self, *, to, from_, body, media_url=None, content=None):
        self.threads.append(threading.get_ident())
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(
            {"to": to, "from_": from_, "body": body, "media_url": media_url, "content": content}
        )
        return f"SM{len(self.sent):032d}"


class ScriptedAgent:
    """Stands in for Rasa's Agent: records each UserMessage, replies through its output."""

    def __init__(self, script=lambda text: [], fail: bool = False):
        self.messages = []
        self.script = script
        self.fail = fail

    async def handle_message(self, message) -> None:
        self.messages.append(message)
        if self.fail:
            raise RuntimeError("tracker store unavailable")
        for reply in self.script(message.text):
            await message.output_channel.send_response(message.sender_id, dict(reply))

    @property
    def texts(self) -> list[str]:
        return [m.text for m in self.messages]


def make_channel(**overrides) -> SignedTwilioInput:
    values = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "whatsapp_from": OUR_NUMBER,
        "webhook_url": PUBLIC_URL,
        "sender": FakeSender(),
        "retry_delays": (0.0, 0.0),
        "whatsapp_buttons": "numbered",  # interactive ones: tests pass their own templates
    }
    return SignedTwilioInput(**{**values, **overrides})


@pytest.fixture(autouse=True)
def sanic_test_mode(monkeypatch):
    # Several apps in one process: Sanic re-compiles its hot paths on each start unless told
    monkeypatch.setattr(Sanic, "test_mode", True)


@contextlib.asynccontextmanager
async def served(channel: SignedTwilioInput, agent: ScriptedAgent):
    """The channel's blueprint registered by Rasa's own `register` under /webhooks/."""
    app = Sanic(f"twilio_signed_test_{uuid.uuid4().hex[:10]}")
    register([channel], app, route="/webhooks/")
    app.ctx.agent = agent
    await app._startup()  # what the ASGI lifespan would do: finalise routes
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://rasa.internal:5005") as c:
        yield c


def twilio_form(body: str, *, sender: str = SENDER, **extra: str) -> dict[str, str]:
    """An incoming-message webhook as Twilio posts it (blank fields included: they are signed)."""
    return {
        "SmsMessageSid": (sid := f"SM{uuid.uuid4().hex}"),
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "NumMedia": "0",
        "ProfileName": "Jane",
        "WaId": "14155550123",
        "SmsStatus": "received",
        "Body": body,
        "To": f"whatsapp:{OUR_NUMBER}",
        "From": sender,
        "FromCity": "",
        "FromState": "",
        "NumSegments": "1",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


async def post(client, params, *, url=PUBLIC_URL, token=AUTH_TOKEN, signature=None, path=None):
    signature = sign(url, params, token) if signature is None else signature
    headers = {"X-Twilio-Signature": signature} if signature else {}
    return await client.post(path or WEBHOOK_PATH, data=params, headers=headers)


# --- a local server answering like Twilio's Messages API -----------------------------------

MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


def twilio_created(form: dict[str, list[str]], n: int) -> Response:
    """Twilio's 201 answer to a Messages create (the fields the client reads)."""
    sid = f"SM{n:032x}"
    body = {
        "sid": sid,
        "account_sid": ACCOUNT_SID,
        "api_version": "2010-04-01",
        "body": form.get("Body", [""])[0],
        "to": form["To"][0],
        "from": form["From"][0],
        "status": "queued",
        "direction": "outbound-api",
        "num_segments": "1",
        "num_media": "0",
        "error_code": None,
        "error_message": None,
        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
    }
    return Response(json.dumps(body), status=201, content_type="application/json")


def twilio_error(status: int, code: int | None, message: str) -> Response:
    body = {"status": status, "message": message}
    if code:
        body.update(code=code, more_info=f"https://www.twilio.com/docs/errors/{code}")
    return Response(json.dumps(body), status=status, content_type="application/json")


class FakeTwilio:
    """Records each Messages create (form and headers) and answers 201, or queued errors."""

    def __init__(self, errors: list[Response] | None = None):
        self.forms: list[dict[str, list[str]]] = []
        self.headers: list[dict[str, str]] = []
        self.errors = list(errors or [])

    def __call__(self, request):
        form = parse_qs(request.get_data(as_text=True), keep_blank_values=True)
        self.headers.append(dict(request.headers))
        if self.errors:
            return self.errors.pop(0)
        self.forms.append(form)
        return twilio_created(form, len(self.forms))

    def sent(self) -> list[tuple[str, str, str]]:
        """(To, From, Body) of each message; an interactive one shows its text (variable 1)."""
        return [(f["To"][0], f["From"][0], _shown_text(f)) for f in self.forms]


def _shown_text(form: dict[str, list[str]]) -> str:
    if "ContentSid" in form:
        return json.loads(form["ContentVariables"][0])["1"]
    return form.get("Body", [""])[0]


# --- a local server answering like Twilio's Content API ------------------------------------

CONTENT_PATH = "/v1/Content"


class FakeContentApi:
    """Records each content template created and answers 201 with a new HX SID (or errors)."""

    def __init__(self, errors: list[Response] | None = None):
        self.created: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.errors = list(errors or [])

    def __call__(self, request):
        self.headers.append(dict(request.headers))
        if self.errors:
            return self.errors.pop(0)
        template = json.loads(request.get_data(as_text=True))
        self.created.append(template)
        sid = f"HX{len(self.created):032x}"
        body = {
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "friendly_name": template.get("friendly_name"),
            "language": template.get("language"),
            "variables": template.get("variables", {}),
            "types": template.get("types", {}),
            "url": f"https://content.twilio.com/v1/Content/{sid}",
            "date_created": "2026-12-01T12:00:00Z",
            "date_updated": "2026-12-01T12:00:00Z",
            "links": {},
        }
        return Response(json.dumps(body), status=201, content_type="application/json")
