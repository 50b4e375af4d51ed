"""The website chat channels refuse what is not a signed website chat id, and bounded input,
before Rasa sees anything (a fake agent records what Rasa would have received)."""

from __future__ import annotations

import asyncio
import json

import pytest

from backend.chat_ids import issue_chat_id, sign_chat_id, verify_chat_id
from backend.config import load_settings
from backend.rasa_ext.channels.web import SignedRestInput, WebChatGate
from backend.ratelimit import Limits, MemoryStore
from tests.twilio_support import ScriptedAgent, sanic_test_mode, served  # noqa: F401

SECRET = "chat-id-secret-for-tests-0123456789"
URL = "/webhooks/rest/webhook"


def make_gate(**env: str) -> WebChatGate:
    settings = load_settings({"CHAT_ID_SECRET": SECRET, **env}, dotenv=False)
    return WebChatGate(settings=settings, limits=Limits.from_settings(settings, MemoryStore()))


def body(message="hello", **overrides):
    chat = issue_chat_id(secret=SECRET)
    return {"sender": chat.sender, "token": chat.token, "message": message, **overrides}


def echo(text):
    return [{"text": f"echo {text}"}]


async def test_signed_website_chat_reaches_rasa_as_rest():
    agent = ScriptedAgent(echo)
    payload = body("hi", input_channel="twilio_signed", metadata={"channel": "web"})
    async with served(SignedRestInput(make_gate()), agent) as client:
        reply = await client.post(URL, json=payload)
    assert reply.status_code == 200
    assert reply.json() == [{"recipient_id": payload["sender"], "text": "echo hi"}]
    [message] = agent.messages
    assert (message.sender_id, message.text, message.input_channel, message.metadata) == (
        payload["sender"],
        "hi",
        "rest",  # a client cannot claim another channel
        {"channel": "web"},
    )


@pytest.mark.parametrize(
    ("case", "payload", "status"),
    [
        ("whatsapp sender", {**body(), "sender": "whatsapp:+14155550123"}, 403),
        ("another visitor's id", {**body(), "sender": issue_chat_id(secret=SECRET).sender}, 403),
        ("no token", {k: v for k, v in body().items() if k != "token"}, 403),
        ("token of another secret", {**body(), "token": "0" * 64}, 403),
        ("sender not a string", {**body(), "sender": ["web-x"]}, 403),
        ("message not text", body(message={"text": "hi"}), 422),
        ("message missing", {k: v for k, v in body().items() if k != "message"}, 422),
        ("message too long", body(message="a" * 2001), 413),
        ("JSON array", [body()], 400),
        ("JSON string", "hello", 400),
    ],
)
async def test_refused_before_rasa_sees_it(case, payload, status):
    agent = ScriptedAgent(echo)
    async with served(SignedRestInput(make_gate()), agent) as client:
        reply = await client.post(URL, content=json.dumps(payload))
    assert reply.status_code == status, case
    assert reply.json()["error"]
    assert agent.messages == []


async def test_not_json_and_huge_bodies_are_refused():
    agent = ScriptedAgent(echo)
    async with served(SignedRestInput(make_gate()), agent) as client:
        not_json = await client.post(URL, content=b"{sender:")
        huge = await client.post(URL, content=json.dumps(body("word" * 1_000_000)))
        empty = await client.post(URL, content=b"")
    assert (not_json.status_code, huge.status_code, empty.status_code) == (400, 413, 400)
    assert "shorten" in huge.json()["error"]
    assert agent.messages == []


async def test_message_at_the_cap_passes_and_the_cap_is_a_setting():
    agent = ScriptedAgent(echo)
    gate = make_gate(CHAT_MAX_MESSAGE_CHARS="10")
    async with served(SignedRestInput(gate), agent) as client:
        at_cap = await client.post(URL, json=body("x" * 10))
        over = await client.post(URL, json=body("x" * 11))
    assert (at_cap.status_code, over.status_code) == (200, 413)
    assert "at most 10 characters" in over.json()["error"]
    assert agent.texts == ["x" * 10]


async def test_without_a_secret_every_chat_is_refused():
    settings = load_settings({}, dotenv=False)
    gate = WebChatGate(settings=settings, limits=Limits.from_settings(settings, MemoryStore()))
    agent = ScriptedAgent(echo)
    async with served(SignedRestInput(gate), agent) as client:
        reply = await client.post(URL, json={"sender": "web-x", "token": "", "message": "hi"})
    assert reply.status_code == 403 and agent.messages == []


async def test_per_sender_quota_is_429_with_retry_after_and_other_chats_go_on():
    agent = ScriptedAgent(echo)
    gate = make_gate(RATE_LIMIT_CHAT_PER_SENDER="3", RATE_LIMIT_CHAT_PER_IP="100")
    busy = body()
    async with served(SignedRestInput(gate), agent) as client:
        answers = [(await client.post(URL, json=busy)).status_code for _ in range(4)]
        refused = await client.post(URL, json=busy)
        other = await client.post(URL, json=body())
    assert answers == [200, 200, 200, 429]
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    assert other.status_code == 200
    assert len(agent.messages) == 4


async def test_per_ip_quota_counts_every_request_even_forged_ones():
    agent = ScriptedAgent(echo)
    gate = make_gate(RATE_LIMIT_CHAT_PER_IP="2")
    async with served(SignedRestInput(gate), agent) as client:
        forged = await client.post(URL, json={**body(), "sender": "whatsapp:+14155550123"})
        ok = await client.post(URL, json=body())
        limited = await client.post(URL, json=body())
    assert (forged.status_code, ok.status_code, limited.status_code) == (403, 200, 429)
    assert "Retry-After" in limited.headers


def test_chat_ids_are_web_uuids_signed_per_secret():
    chat = issue_chat_id(secret=SECRET)
    assert chat.sender.startswith("web-") and len(chat.sender) == 40
    assert verify_chat_id(chat.sender, chat.token, secret=SECRET)
    assert not verify_chat_id(chat.sender, chat.token, secret=SECRET + "x")
    assert not verify_chat_id(chat.sender, chat.token.upper(), secret=SECRET)
    assert not verify_chat_id(
        "whatsapp:+14155550123", sign_chat_id("whatsapp:+14155550123", secret=SECRET), secret=SECRET
    )
    assert not verify_chat_id(chat.sender, chat.token, secret="")


class SlowAgent(ScriptedAgent):
    """Holds every message until released: messages in progress at once."""

    def __init__(self):
        super().__init__(echo)
        self.release = asyncio.Event()

    async def handle_message(self, message) -> None:
        await self.release.wait()
        await super().handle_message(message)


async def test_one_ip_gets_only_so_many_messages_in_progress_at_once():
    agent = SlowAgent()
    gate = make_gate(RATE_LIMIT_CHAT_CONCURRENT_PER_IP="2")
    async with served(SignedRestInput(gate), agent) as client:
        held = [asyncio.ensure_future(client.post(URL, json=body())) for _ in range(2)]
        await asyncio.sleep(0.2)  # both are inside Rasa now
        third = await client.post(URL, json=body())
        with gate.in_flight("203.0.113.9") as other_ip:
            assert other_ip is None  # another client still gets a slot
        agent.release.set()
        answers = [r.status_code for r in await asyncio.gather(*held)]
        after = await client.post(URL, json=body())
    assert answers == [200, 200]
    assert third.status_code == 429 and third.headers["Retry-After"] == "1"
    assert after.status_code == 200 and gate._in_flight == {}
