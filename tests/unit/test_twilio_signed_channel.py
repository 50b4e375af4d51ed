"""The signed Twilio channel inside a Sanic app wired the way `rasa run` wires channels.

Requests are signed with Twilio's own RequestValidator; the agent is a small fake that records
what Rasa would have received and answers through the channel's output, whose sends go to a
recording fake. The real Twilio client against a local server: tests/integration.
"""

from __future__ import annotations

import logging
import threading
from xml.etree import ElementTree

import pytest

from backend.config import ROOT, ConfigError, load_settings
from backend.integrations import IntegrationError
from backend.rasa_ext.channels import twilio_signed
from backend.rasa_ext.channels.twilio_signed import (
    MAX_BODY,
    NOT_TEXT_REPLY,
    OPT_OUT_PAYLOAD,
    ButtonMemory,
    SignedTwilioInput,
    SignedTwilioOutput,
    sender_address,
    split_body,
)
from tests.twilio_support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    GOAL_BUTTONS,
    INTERNAL_URL,
    OUR_NUMBER,
    PUBLIC_URL,
    SENDER,
    WEBHOOK_PATH,
    FakeSender,
    ScriptedAgent,
    make_channel,
    post,
    sanic_test_mode,  # noqa: F401 - autouse fixture
    served,
    sign,
    twilio_form,
)

# --- signature ------------------------------------------------------------------------------


async def test_signed_message_reaches_rasa_with_sender_and_text():
    agent = ScriptedAgent()
    async with served(make_channel(), agent) as client:
        reply = await post(client, twilio_form("Hi there"))
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/xml")
    assert ElementTree.fromstring(reply.text).tag == "Response"
    [message] = agent.messages
    assert (message.sender_id, message.text, message.input_channel) == (
        SENDER,
        "Hi there",
        "twilio_signed",
    )
    assert message.metadata is None  # nothing from the form (profile name, WaId) is stored


@pytest.mark.parametrize(
    ("case", "signature_for"),
    [
        ("missing", lambda params: ""),
        ("other token", lambda params: sign(PUBLIC_URL, params, token="f" * 32)),
        ("internal url", lambda params: sign(INTERNAL_URL, params)),
        ("tampered body", lambda params: sign(PUBLIC_URL, {**params, "Body": "hi"})),
    ],
)
async def test_missing_or_bad_signature_is_403_and_rasa_sees_nothing(case, signature_for):
    agent = ScriptedAgent()
    params = twilio_form("please erase my data")
    async with served(make_channel(), agent) as client:
        reply = await post(client, params, signature=signature_for(params))
    assert reply.status_code == 403
    assert "X-Twilio-Signature" in reply.text
    assert agent.messages == []


async def test_without_webhook_url_the_url_sanic_saw_is_signed():
    agent = ScriptedAgent()
    async with served(make_channel(webhook_url=""), agent) as client:
        good = await post(client, twilio_form("one"), url=INTERNAL_URL)
        bad = await post(client, twilio_form("two"), url=PUBLIC_URL)
    assert (good.status_code, bad.status_code) == (200, 403)
    assert agent.texts == ["one"]


async def test_query_string_twilio_called_is_part_of_the_signed_url():
    agent = ScriptedAgent()
    async with served(make_channel(), agent) as client:
        reply = await post(
            client,
            twilio_form("hello"),
            url=f"{PUBLIC_URL}?src=wa",
            path=f"{WEBHOOK_PATH}?src=wa",
        )
    assert reply.status_code == 200
    assert agent.texts == ["hello"]


@pytest.mark.parametrize(
    ("account_sid", "auth_token"),
    [(ACCOUNT_SID, "TWILIO-TEST-TOKEN"), ("AC-TEST-SID", AUTH_TOKEN), ("", "")],
)
async def test_placeholder_credentials_refuse_every_request_with_503(account_sid, auth_token):
    agent = ScriptedAgent()
    channel = make_channel(account_sid=account_sid, auth_token=auth_token, sender=None)
    params = twilio_form("hi")
    async with served(channel, agent) as client:
        signed = await post(client, params, token=auth_token or "x")
        unsigned = await post(client, params, signature="")
    assert (signed.status_code, unsigned.status_code) == (503, 503)
    assert signed.text == "twilio not configured"
    assert agent.messages == []


async def test_missing_from_is_400_and_media_without_text_gets_a_reply_but_no_turn():
    agent = ScriptedAgent()
    no_from = {k: v for k, v in twilio_form("hi").items() if k != "From"}
    async with served(make_channel(), agent) as client:
        missing = await post(client, no_from)
        media = await post(client, twilio_form("", NumMedia="1", MediaUrl0="https://x.test/a.jpg"))
    assert missing.status_code == 400
    assert media.status_code == 200 and NOT_TEXT_REPLY in media.text
    assert agent.messages == []


async def test_same_message_sid_twice_is_handled_once():
    agent = ScriptedAgent()
    params = twilio_form("hi")
    async with served(make_channel(), agent) as client:
        first = await post(client, params)
        again = await post(client, params)
    assert (first.status_code, again.status_code) == (200, 200)
    assert agent.texts == ["hi"]


async def test_failed_turn_is_500_and_the_same_message_may_come_again():
    agent = ScriptedAgent(fail=True)
    params = twilio_form("hi")
    async with served(make_channel(), agent) as client:
        first = await post(client, params)
        agent.fail = False
        again = await post(client, params)
    assert (first.status_code, again.status_code) == (500, 200)
    assert agent.texts == ["hi", "hi"]


# --- typed button numbers ------------------------------------------------------------------


def goal_script(text: str) -> list[dict]:
    if text == "hi":
        return [{"text": "Which area interests you?", "buttons": GOAL_BUTTONS}]
    if text.startswith("/choose_goal"):
        return [{"text": "How many would you like?"}]
    return [{"text": "Okay."}]


async def test_typed_number_becomes_the_payload_of_that_button_of_the_last_reply():
    channel = make_channel()
    agent = ScriptedAgent(goal_script)
    async with served(channel, agent) as client:
        await post(client, twilio_form("hi"))
        await post(client, twilio_form(" 2. "))
        await post(client, twilio_form("2"))  # the last reply had no buttons: a plain 2
    assert agent.texts == ["hi", GOAL_BUTTONS[1]["payload"], "2"]
    menu = channel.sender.sent[0]["body"]
    assert menu.startswith("Which area interests you?\n\n1. Lose weight\n2. Blood pressure\n")
    assert "/choose_goal" not in menu  # payloads are never shown


@pytest.mark.parametrize("typed", ["1", "3)", " 3 ", "03"])
async def test_number_forms_that_map(typed):
    agent = ScriptedAgent(goal_script)
    async with served(make_channel(), agent) as client:
        await post(client, twilio_form("hi"))
        await post(client, twilio_form(typed))
    index = int(typed.strip(" )")) - 1
    assert agent.texts[1] == GOAL_BUTTONS[index]["payload"]


async def test_number_out_of_range_or_from_another_sender_stays_text():
    agent = ScriptedAgent(goal_script)
    other = "whatsapp:+14155550999"
    async with served(make_channel(), agent) as client:
        await post(client, twilio_form("hi"))
        await post(client, twilio_form("2", sender=other))
        await post(client, twilio_form("7"))
        await post(client, twilio_form("2 please"))
    assert agent.texts[1:] == ["2", "7", "2 please"]


def test_button_memory_is_bounded_and_expires():
    now = [0.0]
    memory = ButtonMemory(max_senders=2, ttl_seconds=60, clock=lambda: now[0])
    for sender in ("a", "b", "c"):
        memory.remember(sender, ["/affirm", "/deny"])
    assert len(memory) == 2
    assert memory.payload_for("a", "1") is None  # least recently used went first
    assert memory.payload_for("c", "2") == "/deny"
    now[0] = 61
    assert memory.payload_for("c", "1") is None
    assert len(memory) == 1  # only the expired entry that was looked up is dropped


# --- STOP ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["STOP", "stop", " Unsubscribe ", "StopAll", "stop all", "cancel", "END", "quit!", "Opt-out"],
)
async def test_carrier_stop_words_become_the_opt_out_intent(typed):
    agent = ScriptedAgent(goal_script)
    async with served(make_channel(), agent) as client:
        await post(client, twilio_form("hi"))  # a menu is open: STOP still wins
        await post(client, twilio_form(typed))
    assert agent.texts == ["hi", OPT_OUT_PAYLOAD]


async def test_stop_inside_a_sentence_is_left_to_the_classifier():
    agent = ScriptedAgent()
    async with served(make_channel(), agent) as client:
        await post(client, twilio_form("stop messaging me"))
        await post(client, twilio_form("endless energy?"))
    assert agent.texts == ["stop messaging me", "endless energy?"]


async def test_advanced_opt_out_keyword_type_becomes_the_opt_out_intent():
    agent = ScriptedAgent()
    async with served(make_channel(), agent) as client:
        await post(client, twilio_form("ARRET", OptOutType="STOP"))
    assert agent.texts == [OPT_OUT_PAYLOAD]


# --- replies -------------------------------------------------------------------------------


async def test_replies_are_sent_off_the_event_loop_with_whatsapp_numbers():
    channel = make_channel()
    agent = ScriptedAgent(lambda text: [{"text": "Hello!"}])
    async with served(channel, agent) as client:
        await post(client, twilio_form("hi"))
    assert channel.sender.sent == [
        {
            "to": SENDER,
            "from_": f"whatsapp:{OUR_NUMBER}",
            "body": "Hello!",
            "media_url": None,
            "content": None,
        }
    ]
    assert channel.sender.threads[0] != threading.get_ident()  # ran in the executor


async def test_long_reply_is_cut_at_twilios_limit_without_losing_words():
    sender = FakeSender()
    output = SignedTwilioOutput(
        sender=sender, whatsapp_from=OUR_NUMBER, sms_from="", memory=ButtonMemory()
    )
    paragraphs = [" ".join(f"word{p}x{i}" for i in range(150)) for p in range(3)]
    await output.send_text_message(SENDER, "\n\n".join(paragraphs))
    bodies = [s["body"] for s in sender.sent]
    assert len(bodies) >= 3 and all(len(b) <= MAX_BODY for b in bodies)
    assert " ".join(bodies).split() == " ".join(paragraphs).split()


def test_twiml_reply_text_is_escaped():
    from backend.rasa_ext.channels.twilio_signed import _twiml

    answer = _twiml("Fish & chips <b>now</b> ]]>")
    root = ElementTree.fromstring(answer.body.decode())
    assert root.tag == "Response"
    assert [m.text for m in root.iter("Message")] == ["Fish & chips <b>now</b> ]]>"]


def test_split_body_prefers_paragraphs_and_counts_utf16_units():
    assert split_body("a" * 10 + "\n\n" + "b" * 10, limit=15) == ["a" * 10, "b" * 10]
    assert split_body("x" * 35, limit=15) == ["x" * 15, "x" * 15, "x" * 5]
    emoji = "\U0001f600" * 10  # two UTF-16 units each
    assert [len(p) for p in split_body(emoji, limit=15)] == [7, 3]
    assert split_body("  ") == []


@pytest.mark.parametrize(
    ("recipient", "whatsapp_from", "sms_from", "expected"),
    [
        (SENDER, OUR_NUMBER, "", f"whatsapp:{OUR_NUMBER}"),
        (SENDER, f"whatsapp:{OUR_NUMBER}", "", f"whatsapp:{OUR_NUMBER}"),
        ("+14155550123", f"whatsapp:{OUR_NUMBER}", "+15005550006", "+15005550006"),
        ("+14155550123", f"whatsapp:{OUR_NUMBER}", "", OUR_NUMBER),
    ],
)
def test_our_number_follows_the_recipients_channel(recipient, whatsapp_from, sms_from, expected):
    assert sender_address(recipient, whatsapp_from=whatsapp_from, sms_from=sms_from) == expected


async def test_sms_sender_gets_at_sign_repaired():
    agent = ScriptedAgent()
    async with served(make_channel(), agent) as client:
        await post(client, twilio_form("jane¡shop.test", sender="+14155550123"))
        await post(client, twilio_form("¡Hola!"))
    assert agent.texts == ["jane@shop.test", "¡Hola!"]


async def test_failed_sends_are_logged_without_number_and_the_turn_goes_on(caplog):
    # Retrying is the sender's own job (twilio's async HTTP client, see the integration
    # tests); the output sends each part once and logs what failed.
    sender = FakeSender(
        errors=[
            IntegrationError("Twilio is unavailable (HTTP 503)"),
            IntegrationError("Twilio refused the message (HTTP 400, code 21211)", permanent=True),
        ]
    )
    output = SignedTwilioOutput(
        sender=sender, whatsapp_from=OUR_NUMBER, sms_from="", memory=ButtonMemory()
    )
    with caplog.at_level(logging.INFO, logger="backend.rasa_ext.channels.twilio_signed"):
        await output.send_text_message(SENDER, "first")
        await output.send_text_message(SENDER, "second")
        await output.send_text_message(SENDER, "third")
    assert [s["body"] for s in sender.sent] == ["third"]
    failures = [r for r in caplog.records if r.getMessage().startswith("twilio send failed")]
    # (the project's record redaction, once installed in this process, turns values to text)
    assert [{k: str(v) for k, v in r.fields.items()} for r in failures] == [
        {"error": "Twilio is unavailable (HTTP 503)", "permanent": "False"},
        {"error": "Twilio refused the message (HTTP 400, code 21211)", "permanent": "True"},
    ]
    assert "4155550123" not in caplog.text + str([getattr(r, "fields", "") for r in caplog.records])


# --- configuration -------------------------------------------------------------------------


@pytest.fixture
def restore_log_factory():
    previous = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(previous)


def test_from_credentials_reads_backend_settings_and_credentials_override(
    monkeypatch, restore_log_factory
):
    settings = load_settings(
        {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_WHATSAPP_FROM": f"whatsapp:{OUR_NUMBER}",
            "TWILIO_WEBHOOK_URL": PUBLIC_URL,
        },
        dotenv=False,
    )
    monkeypatch.setattr(twilio_signed, "get_settings", lambda: settings)
    from_settings = SignedTwilioInput.from_credentials(None)
    assert from_settings.configured and from_settings.webhook_url == PUBLIC_URL
    assert from_settings.whatsapp_from == f"whatsapp:{OUR_NUMBER}"
    overridden = SignedTwilioInput.from_credentials(
        {"webhook_url": "https://other.test/hook", "sms_number": "+15005550006", "api_base": ""}
    )
    assert overridden.webhook_url == "https://other.test/hook"
    assert overridden.sms_from == "+15005550006"
    assert overridden.sender.client.api.base_url == "https://api.twilio.com"
    with pytest.raises(ConfigError, match="twilio_numbr"):
        SignedTwilioInput.from_credentials({"twilio_numbr": OUR_NUMBER})
    with pytest.raises(ConfigError, match="TWILIO_WEBHOOK_URL"):
        SignedTwilioInput.from_credentials({"webhook_url": "bot.shop.test/hook"})


def test_env_example_values_leave_the_channel_not_configured(monkeypatch, restore_log_factory):
    env = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            env[key.strip()] = value.split(" #")[0].strip()
    monkeypatch.setattr(twilio_signed, "get_settings", lambda: load_settings(env, dotenv=False))
    channel = SignedTwilioInput.from_credentials(None)
    assert not channel.configured and channel.sender is None


async def test_webhook_quota_per_ip_is_429_with_retry_after(monkeypatch):
    from backend import config

    monkeypatch.setenv("RATE_LIMIT_WEBHOOK_PER_IP", "2")
    config.reset_settings_cache()
    try:
        agent = ScriptedAgent()
        async with served(make_channel(), agent) as client:
            answers = [(await post(client, twilio_form(f"hi {n}"))).status_code for n in range(3)]
            refused = await post(client, twilio_form("hi again"))
    finally:
        config.reset_settings_cache()
    assert answers[:2] == [200, 200] and answers[2] == 429
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert agent.texts == ["hi 0", "hi 1"]
