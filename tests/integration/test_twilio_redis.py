"""Two signed Twilio channels (two workers or instances) sharing Redis behave as one
(issue 11, item 10): a replayed signed request is refused by the other, and a menu number
typed to one maps through the menu the other sent. Needs TEST_REDIS_URL."""

from __future__ import annotations

import uuid

import pytest
import redis

from backend.rasa_ext.channels.twilio_signed import (
    REDIS_PREFIX,
    ButtonMemory,
    SeenMessages,
    shared_state,
)
from tests.twilio_support import (
    GOAL_BUTTONS,
    SENDER,
    ScriptedAgent,
    make_channel,
    post,
    sanic_test_mode,  # noqa: F401 - autouse fixture
    served,
    twilio_form,
)

pytestmark = pytest.mark.redis


def goal_script(text: str) -> list[dict]:
    if text == "hi":
        return [{"text": "Which area interests you?", "buttons": GOAL_BUTTONS}]
    return [{"text": "Okay."}]


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    for key in c.scan_iter(f"{REDIS_PREFIX}:*"):
        c.delete(key)


def channel_pair(redis_url):
    """Two channels as two `rasa run` workers build them from REDIS_URL."""
    return make_channel(**shared_state(redis_url)), make_channel(**shared_state(redis_url))


async def test_a_replayed_signed_request_is_refused_by_the_other_worker(redis_url, client):
    first, second = channel_pair(redis_url)
    agent_a, agent_b = ScriptedAgent(), ScriptedAgent()
    params = twilio_form("delete my data")
    async with served(first, agent_a) as a, served(second, agent_b) as b:
        r1 = await post(a, params)
        r2 = await post(b, params)  # same signed request, replayed to another worker
        r3 = await post(a, params)
    assert (r1.status_code, r2.status_code, r3.status_code) == (200, 200, 200)
    assert agent_a.texts == ["delete my data"] and agent_b.texts == []
    ttl = max(client.ttl(k) for k in client.scan_iter(f"{REDIS_PREFIX}:seen:*"))
    assert 0 < ttl <= 7 * 24 * 3600  # the replay key expires


async def test_a_failed_turn_releases_the_message_for_twilio_s_retry(redis_url, client):
    first, second = channel_pair(redis_url)
    failing, ok = ScriptedAgent(fail=True), ScriptedAgent()
    params = twilio_form("hi")
    async with served(first, failing) as a, served(second, ok) as b:
        assert (await post(a, params)).status_code == 500
        assert (await post(b, params)).status_code == 200
    assert ok.texts == ["hi"]


async def test_a_number_typed_to_one_worker_maps_through_the_other_s_menu(redis_url, client):
    first, second = channel_pair(redis_url)
    agent_a, agent_b = ScriptedAgent(goal_script), ScriptedAgent(goal_script)
    async with served(first, agent_a) as a, served(second, agent_b) as b:
        await post(a, twilio_form("hi"))  # worker A sends the numbered menu
        await post(b, twilio_form("2"))  # the answer reaches worker B
        await post(b, twilio_form("2"))  # B's reply had no buttons: now a plain 2
    assert agent_b.texts == [GOAL_BUTTONS[1]["payload"], "2"]
    keys = [k.decode() for k in client.scan_iter(f"{REDIS_PREFIX}:*")]
    assert keys and not any("14155550123" in k for k in keys)  # no phone number in key names


def test_redis_maps_expire_and_claim_once(client):
    sid = f"SM{uuid.uuid4().hex}"
    seen_a, seen_b = SeenMessages.in_redis(client), SeenMessages.in_redis(client)
    assert seen_a.claim(sid) and not seen_b.claim(sid)
    seen_b.release(sid)
    assert seen_b.claim(sid)
    memory = ButtonMemory.in_redis(client, ttl_seconds=60)
    memory.remember(SENDER, ["/affirm", "/deny"])
    assert ButtonMemory.in_redis(client).payload_for(SENDER, "2") == "/deny"
    memory.forget(SENDER)
    assert ButtonMemory.in_redis(client).payload_for(SENDER, "2") is None


def test_without_redis_each_channel_keeps_its_own_memory():
    assert shared_state("") == {}
    first, second = make_channel(), make_channel()
    assert first.seen is not second.seen and first.memory is not second.memory
