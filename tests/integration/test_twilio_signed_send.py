"""The signed Twilio channel with the real Twilio client against a local server answering like
Twilio's Messages API, and the project's credentials.yml loaded by Rasa's own channel loader."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import logging

import pytest

from backend.config import ROOT, load_settings
from backend.contacts import service as contacts
from backend.integrations import IntegrationError
from backend.rasa_ext.channels import twilio_signed
from backend.rasa_ext.channels.twilio_signed import SignedTwilioInput, TwilioMessages
from tests.helpers import free_port
from tests.twilio_support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CONTENT_PATH,
    GOAL_BUTTONS,
    MESSAGES_PATH,
    OUR_NUMBER,
    SENDER,
    FakeContentApi,
    FakeTwilio,
    ScriptedAgent,
    make_channel,
    post,
    sanic_test_mode,  # noqa: F401 - autouse fixture
    served,
    twilio_error,
    twilio_form,
)


@pytest.fixture
def fake_twilio(httpserver):
    fake = FakeTwilio()
    httpserver.expect_request(MESSAGES_PATH, method="POST").respond_with_handler(fake)
    return fake


@pytest.fixture
def api_base(httpserver) -> str:
    return httpserver.url_for("").rstrip("/")


def test_send_posts_to_from_body_with_basic_auth(fake_twilio, api_base):
    messages = TwilioMessages(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base=api_base)
    sid = messages.send(to=SENDER, from_=f"whatsapp:{OUR_NUMBER}", body="Hello from the shop")
    assert sid == f"SM{1:032x}"
    assert fake_twilio.sent() == [(SENDER, f"whatsapp:{OUR_NUMBER}", "Hello from the shop")]
    auth = fake_twilio.headers[0]["Authorization"]
    assert auth == "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()


@pytest.mark.parametrize(
    ("status", "code", "permanent"),
    [
        (400, 21211, True),  # invalid 'To' number
        (400, 21610, True),  # the recipient replied STOP (SMS)
        (400, 63016, True),  # WhatsApp: outside the 24-hour window, template needed
        (401, 20003, True),  # bad credentials
        (429, 20429, False),
        (503, None, False),
    ],
)
def test_twilio_errors_map_to_integration_errors_without_the_number(
    httpserver, api_base, status, code, permanent
):
    message = "The 'To' number whatsapp:+14155550123 is not a valid phone number."
    httpserver.expect_request(MESSAGES_PATH, method="POST").respond_with_response(
        twilio_error(status, code, message)
    )
    messages = TwilioMessages(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base=api_base)
    with pytest.raises(IntegrationError) as err:
        messages.send(to=SENDER, from_=f"whatsapp:{OUR_NUMBER}", body="hi")
    assert err.value.permanent is permanent
    assert err.value.message.startswith("twilio: ")
    assert str(code if code == 21610 else status) in err.value.message
    assert "4155550123" not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_unreachable_twilio_is_a_temporarytwilio_error():
    messages = TwilioMessages(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_base=f"http://127.0.0.1:{free_port()}",
    )
    with pytest.raises(IntegrationError) as err:
        messages.send(to=SENDER, from_=OUR_NUMBER, body="hi")
    assert not err.value.permanent


async def test_conversation_round_trip_through_the_fake_twilio(fake_twilio, api_base):
    """Signed webhook in → agent → replies out through the real client; then "2" → payload."""
    long_text = "\n\n".join(
        " ".join(f"benefit{p}-{i}" for i in range(120)) for p in range(3)
    )  # about 3,900 characters

    def script(text):
        if text == "hi":
            return [{"text": long_text}, {"text": "Which area?", "buttons": GOAL_BUTTONS}]
        return [{"text": "Noted."}]

    channel = SignedTwilioInput(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        whatsapp_from=OUR_NUMBER,  # without the prefix: added for WhatsApp recipients
        webhook_url="https://bot.shop.test/webhooks/twilio_signed/webhook",
        api_base=api_base,
        retry_delays=(0.0,),
        whatsapp_buttons="numbered",
    )
    assert isinstance(channel.sender, TwilioMessages)
    agent = ScriptedAgent(script)
    async with served(channel, agent) as client:
        first = await post(client, twilio_form("hi"))
        second = await post(client, twilio_form("2"))
    assert (first.status_code, second.status_code) == (200, 200)
    assert agent.texts == ["hi", GOAL_BUTTONS[1]["payload"]]
    sent = fake_twilio.sent()
    assert {(to, from_) for to, from_, _ in sent} == {(SENDER, f"whatsapp:{OUR_NUMBER}")}
    bodies = [body for _, _, body in sent]
    assert all(len(b) <= 1600 for b in bodies)
    long_parts = bodies[:-2]
    assert len(long_parts) == 3 and " ".join(long_parts).split() == long_text.split()
    assert bodies[-2].startswith("Which area?\n\n1. Lose weight\n2. Blood pressure\n3. Blood sugar")
    assert bodies[-1] == "Noted."


async def test_temporary_twilio_failure_is_retried_once_it_recovers(httpserver, api_base):
    fake = FakeTwilio(errors=[twilio_error(503, None, "Service Unavailable")])
    httpserver.expect_request(MESSAGES_PATH, method="POST").respond_with_handler(fake)
    channel = make_channel(sender=None, api_base=api_base, retry_delays=(0.0,))
    agent = ScriptedAgent(lambda text: [{"text": "Hello!"}])
    async with served(channel, agent) as client:
        await post(client, twilio_form("hi"))
    assert len(fake.headers) == 2
    assert fake.sent() == [(SENDER, f"whatsapp:{OUR_NUMBER}", "Hello!")]


async def test_refused_send_is_logged_without_the_number(httpserver, api_base, caplog):
    httpserver.expect_request(MESSAGES_PATH, method="POST").respond_with_response(
        twilio_error(
            400, 21211, "The 'To' number whatsapp:+14155550123 is not a valid phone number."
        )
    )
    channel = make_channel(sender=None, api_base=api_base)
    agent = ScriptedAgent(lambda text: [{"text": "Hello!"}])
    with caplog.at_level(logging.DEBUG):
        async with served(channel, agent) as client:
            reply = await post(client, twilio_form("hi"))
    assert reply.status_code == 200  # the turn happened; only the reply failed
    [failure] = [r for r in caplog.records if r.getMessage().startswith("twilio send failed")]
    assert failure.fields["error"].startswith("twilio: 400 code 21211: The 'To' number")
    logged = caplog.text + json.dumps([getattr(r, "fields", None) for r in caplog.records])
    assert "4155550123" not in logged


def test_project_credentials_load_the_signed_channel_through_rasa(monkeypatch):
    from rasa.core.run import create_http_input_channels

    previous = logging.getLogRecordFactory()
    monkeypatch.setattr(twilio_signed, "get_settings", lambda: load_settings({}, dotenv=False))
    try:
        channels = create_http_input_channels(None, str(ROOT / "credentials.yml"))
    finally:
        logging.setLogRecordFactory(previous)
    by_name = {c.name(): c for c in channels}
    assert "twilio" not in by_name  # Rasa's unsigned channel stays off
    signed = by_name["twilio_signed"]
    assert isinstance(signed, SignedTwilioInput)
    assert signed.url_prefix() == "twilio_signed"  # → /webhooks/twilio_signed/webhook
    assert not signed.configured  # no credentials in this test: every request gets 503


def test_conversations_from_the_signed_channel_count_as_whatsapp(session):
    conversation = contacts.ensure_conversation(session, sender_id=SENDER, channel="twilio_signed")
    assert conversation.channel == "whatsapp"


def async_messages(api_base: str, retry_delays=(0.0, 0.0)) -> TwilioMessages:
    return TwilioMessages(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base=api_base, retry_delays=retry_delays
    )


async def test_send_async_retries_429_and_5xx_through_twilios_async_client(httpserver, api_base):
    fake = FakeTwilio(
        errors=[twilio_error(429, 20429, "Too Many Requests"), twilio_error(503, None, "down")]
    )
    httpserver.expect_request(MESSAGES_PATH, method="POST").respond_with_handler(fake)
    messages = async_messages(api_base)
    try:
        sid = await messages.send_async(to=SENDER, from_=f"whatsapp:{OUR_NUMBER}", body="Hi ✓")
    finally:
        await messages.aclose()
    assert sid == f"SM{1:032x}"
    assert len(fake.headers) == 3 and fake.sent() == [(SENDER, f"whatsapp:{OUR_NUMBER}", "Hi ✓")]
    auth = fake.headers[-1]["Authorization"]
    assert auth == "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()


async def test_send_async_gives_up_temporary_after_its_tries_and_permanent_at_once(
    httpserver, api_base
):
    down = FakeTwilio(errors=[twilio_error(503, None, "down")] * 5)
    httpserver.expect_request(MESSAGES_PATH, method="POST").respond_with_handler(down)
    messages = async_messages(api_base)
    try:
        with pytest.raises(IntegrationError) as temporary:
            await messages.send_async(to=SENDER, from_=OUR_NUMBER, body="hi")
        assert not temporary.value.permanent and len(down.headers) == 3  # 1 + 2 retries
        httpserver.clear()
        refused = FakeTwilio(
            errors=[twilio_error(400, 21211, "The 'To' number +14155550123 is not valid.")]
        )
        httpserver.expect_request(MESSAGES_PATH, method="POST").respond_with_handler(refused)
        with pytest.raises(IntegrationError) as permanent:
            await messages.send_async(to=SENDER, from_=OUR_NUMBER, body="hi")
    finally:
        await messages.aclose()
    assert permanent.value.permanent and len(refused.headers) == 1
    assert "21211" in permanent.value.message and "4155550123" not in permanent.value.message


async def test_send_async_to_an_unreachable_twilio_is_temporary():
    messages = async_messages(f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(IntegrationError) as err:
            await messages.send_async(to=SENDER, from_=OUR_NUMBER, body="hi")
    finally:
        await messages.aclose()
    assert not err.value.permanent and "unreachable" in err.value.message


async def test_bot_replies_use_no_worker_thread(fake_twilio, api_base):
    class NoThreads(concurrent.futures.ThreadPoolExecutor):
        def submit(self, *args, **kwargs):
            raise AssertionError("a reply was sent through the thread pool")

    asyncio.get_running_loop().set_default_executor(NoThreads())
    channel = make_channel(sender=None, api_base=api_base, retry_delays=(0.0,))
    agent = ScriptedAgent(lambda text: [{"text": "Hello!"}])
    async with served(channel, agent) as client:
        await post(client, twilio_form("hi"))
    await channel.sender.aclose()
    assert fake_twilio.sent() == [(SENDER, f"whatsapp:{OUR_NUMBER}", "Hello!")]


# --- interactive WhatsApp messages (Content API) and product pictures ------------------------

MANY_BUTTONS = [{"title": f"Product number {i}", "payload": f"/pick{i}"} for i in range(1, 6)]


@pytest.fixture
def fake_content(httpserver):
    fake = FakeContentApi()
    httpserver.expect_request(CONTENT_PATH, method="POST").respond_with_handler(fake)
    return fake


def interactive_channel(api_base: str) -> SignedTwilioInput:
    return make_channel(
        sender=None,
        api_base=api_base,
        content_api_base=api_base,
        whatsapp_buttons="interactive",
        retry_delays=(0.0,),
    )


async def test_buttons_go_as_quick_replies_or_a_list_and_a_tap_maps_back(
    fake_twilio, fake_content, api_base
):
    def script(text):
        if text in ("hi", "again"):
            return [{"text": "Which area?", "buttons": GOAL_BUTTONS}]
        if text == "more":
            return [{"text": "Pick one", "buttons": MANY_BUTTONS}]
        return [{"text": "Noted."}]

    channel = interactive_channel(api_base)
    agent = ScriptedAgent(script)
    async with served(channel, agent) as client:
        await post(client, twilio_form("hi"))
        tap = twilio_form("Blood pressure", ButtonText="Blood pressure", ButtonPayload="2")
        await post(client, tap)
        await post(client, twilio_form("again"))  # same shape: the template is reused
        await post(client, twilio_form("more"))
        await post(client, twilio_form("Product number 4", ListId="4", ListTitle="Product nu…"))
    await channel.sender.aclose()
    assert agent.texts == ["hi", GOAL_BUTTONS[1]["payload"], "again", "more", "/pick4"]
    quick, lst = fake_content.created
    assert quick["friendly_name"] == "hts_quick_reply_3"
    assert quick["types"]["twilio/quick-reply"]["actions"] == [
        {"title": "{{2}}", "id": "1"},
        {"title": "{{3}}", "id": "2"},
        {"title": "{{4}}", "id": "3"},
    ]
    assert lst["friendly_name"] == "hts_list_picker_5"
    items = lst["types"]["twilio/list-picker"]["items"]
    assert len(items) == 5 and items[3] == {"item": "{{8}}", "id": "4", "description": "{{9}}"}
    expected_auth = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert {h["Authorization"] for h in fake_content.headers} == {expected_auth}
    menus = [f for f in fake_twilio.forms if "ContentSid" in f]
    assert [f["ContentSid"][0] for f in menus] == ["HX" + "0" * 31 + "1"] * 2 + [
        "HX" + "0" * 31 + "2"
    ]
    assert all("Body" not in f for f in menus)  # the template carries the text
    assert json.loads(menus[0]["ContentVariables"][0]) == {
        "1": "Which area?",
        "2": "Lose weight",
        "3": "Blood pressure",
        "4": "Blood sugar",
    }
    variables = json.loads(menus[2]["ContentVariables"][0])
    assert variables["1"] == "Pick one" and variables["8"] == "Product number 4"


async def test_without_the_content_api_buttons_fall_back_to_a_numbered_list(
    httpserver, fake_twilio, api_base
):
    refusing = FakeContentApi(errors=[twilio_error(400, 20001, "Invalid types")])
    httpserver.expect_request(CONTENT_PATH, method="POST").respond_with_handler(refusing)
    channel = interactive_channel(api_base)
    agent = ScriptedAgent(lambda text: [{"text": "Which area?", "buttons": GOAL_BUTTONS}])
    async with served(channel, agent) as client:
        await post(client, twilio_form("hi"))
        await post(client, twilio_form("hi again"))  # no second try within 5 minutes
        await post(client, twilio_form("3"))  # the typed number still maps
    await channel.sender.aclose()
    assert len(refusing.headers) == 1
    assert all("ContentSid" not in f for f in fake_twilio.forms)
    [first, *_] = [body for _, _, body in fake_twilio.sent()]
    assert first.startswith("Which area?\n\n1. Lose weight\n2. Blood pressure\n3. Blood sugar")
    assert agent.texts[-1] == GOAL_BUTTONS[2]["payload"]


async def test_sms_and_eleven_buttons_stay_numbered_lists(fake_twilio, fake_content, api_base):
    eleven = [{"title": f"Option {i}", "payload": f"/o{i}"} for i in range(1, 12)]
    channel = interactive_channel(api_base)
    agent = ScriptedAgent(lambda text: [{"text": "Pick", "buttons": eleven}])
    async with served(channel, agent) as client:
        await post(client, twilio_form("hi"))
        await post(client, twilio_form("hi", sender="+14155550123"))  # SMS
    await channel.sender.aclose()
    assert fake_content.created == [] and all("ContentSid" not in f for f in fake_twilio.forms)
    assert [body.splitlines()[-2] for _, _, body in fake_twilio.sent()] == ["11. Option 11"] * 2


async def test_product_cards_send_their_pictures_as_whatsapp_media(fake_twilio, api_base):
    card = {
        "sku": "BP-001",
        "name": "Blood Pressure Support Kit",
        "price": "$39.99",
        "stock": "in stock",
        "image_url": "https://shop.test/static/products/BP-001.png",
        "buttons": [{"title": "Add to cart", "payload": '/add_to_cart{"sku": "BP-001"}'}],
    }
    script = lambda text: [{"text": "Here's what matches"}, {"custom": {"cards": [card]}}]  # noqa: E731
    channel = make_channel(sender=None, api_base=api_base, retry_delays=(0.0,))
    async with served(channel, ScriptedAgent(script)) as client:
        await post(client, twilio_form("hi"))
        await post(client, twilio_form("hi", sender="+14155550123"))  # SMS: no MMS, no JSON
        await post(client, twilio_form("hi", sender="whatsapp:+14155550999"))
    await channel.sender.aclose()
    pictures = [f for f in fake_twilio.forms if "MediaUrl" in f]
    assert [f["To"][0] for f in pictures] == [SENDER, "whatsapp:+14155550999"]
    assert pictures[0]["MediaUrl"] == [card["image_url"]]
    assert pictures[0]["Body"] == ["Blood Pressure Support Kit: $39.99, in stock"]
    assert not any("{" in body for _, _, body in fake_twilio.sent())  # never JSON text
