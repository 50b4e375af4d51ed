"""End to end: `rasa run` + the action server on loopback, conversations over the REST
channel, then the database is checked (contact, consents, ledger; nothing in declined paths).

Needs models/current.tar.gz (scripts/test.sh trains it before pytest).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select, text

from actions.takeover import HOLD_NOTICE
from backend import ledger, migrations
from backend.auth import service as auth
from backend.auth.models import StaffUser
from backend.catalog.service import SAMPLE_CATALOG, load_catalog
from backend.config import load_settings
from backend.contacts.models import ConsentEvent, Contact, Conversation, Interaction
from backend.contacts.service import finish_tracker_erasures
from backend.db import make_engine, make_session_factory, session_scope, utcnow
from backend.sales import inbox
from backend.sales.models import Lead
from backend.trends.service import ingest
from backend.trends.sources.rss import RssSource, sample_feeds
from tests.helpers import (
    RASA_TOKEN,
    WEB_REST_CREDENTIALS,
    chat_env,
    chat_message,
    free_port,
    start_action_server,
    start_rasa,
    stop_group,
    web_chat,
    write_endpoints,
)

pytestmark = pytest.mark.rasa
ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "current.tar.gz"
STARTUP_SECONDS = 480  # model loading on a busy shared 2-core machine
SHOP_ORIGIN = "http://shop.test:8000"  # PUBLIC_BASE_URL of this stack: the only CORS origin


def wait_until_up(url: str, proc: subprocess.Popen, name: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{name} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    pytest.fail(
        f"{name} did not become ready within {STARTUP_SECONDS}s:\n{log.read_text()[-3000:]}"
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not MODEL.exists():
        pytest.skip("models/current.tar.gz is missing: run `make train` (scripts/test.sh does)")
    tmp = tmp_path_factory.mktemp("e2e")
    db_url = f"sqlite:///{tmp / 'chat.db'}"
    engine = make_engine(db_url)
    migrations.upgrade(engine)
    factory = make_session_factory(engine)
    with session_scope(factory) as s:
        load_catalog(s, source=str(SAMPLE_CATALOG))
        # the sample feeds hold a headline that names a prescription drug ("nature's Ozempic")
        ingest(s, sources=[RssSource(feeds=sample_feeds())], now=utcnow())
    action_port, rasa_port = free_port(), free_port()
    write_endpoints(tmp / "endpoints.yml", action_port=action_port, db_url=db_url)
    (tmp / "credentials.yml").write_text(WEB_REST_CREDENTIALS)
    env = {
        **os.environ,
        **chat_env(),
        "DATABASE_URL": db_url,
        "SANIC_HOST": "127.0.0.1",
        "HTS_ENV_FILE": "/nonexistent/.env",
        "TAX_RATE_PERCENT": "0",
        "PUBLIC_BASE_URL": f"{SHOP_ORIGIN}/",
    }
    actions = start_action_server(action_port, env=env, log=tmp / "actions.log")
    rasa = start_rasa(
        rasa_port,
        env=env,
        log=tmp / "rasa.log",
        model=MODEL,
        endpoints=tmp / "endpoints.yml",
        credentials=tmp / "credentials.yml",
        api=True,
        settings=load_settings(env, dotenv=False),
    )
    try:
        wait_until_up(
            f"http://127.0.0.1:{action_port}/health", actions, "action server", tmp / "actions.log"
        )
        wait_until_up(f"http://127.0.0.1:{rasa_port}/", rasa, "rasa", tmp / "rasa.log")
        yield f"http://127.0.0.1:{rasa_port}", factory
    finally:
        stop_group(rasa)
        stop_group(actions)
        engine.dispose()


class Chat:
    def __init__(self, base: str):
        self.url = f"{base}/webhooks/rest/webhook"
        self.chat = web_chat()
        self.sender = self.chat.sender

    def say(self, message: str) -> str:
        response = requests.post(self.url, json=chat_message(self.chat, message), timeout=60)
        assert response.status_code == 200
        replies = response.json()
        assert replies, f"no reply to {message!r} (an action failed?)"
        return "\n".join(r.get("text", "") for r in replies)


def count(session, model, *where) -> int:
    return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_consent_contact_form_and_callback_are_stored_with_proof(stack):
    base, factory = stack
    chat = Chat(base)
    assert "privacy policy" in chat.say("hi")
    assert "health information" in chat.say("/affirm")
    assert "What would you like support with" in chat.say("/affirm")
    assert "Why:" in chat.say('/choose_goal{"goal":"weight_loss"}')
    assert "What name" in chat.say("/request_callback")
    assert "email address" in chat.say("Jane Doe")
    assert "that email has no domain" in chat.say("jane@")
    assert "offers" in chat.say("jane@example.com")
    assert "phone number" in chat.say('/inform{"channel":"sms"}')
    assert "good time" in chat.say("+1 415 555 0123")
    assert "email and text you receipts" in chat.say("after 5pm")  # both addresses given
    assert "call you back" in chat.say("/affirm")
    with session_scope(factory) as s:
        contact = s.execute(select(Contact)).scalars().one()
        assert (contact.name, contact.email, contact.phone_e164, contact.wellness_goal) == (
            "Jane Doe",
            "jane@example.com",
            "+14155550123",
            "weight_loss",
        )
        decisions = set(
            s.execute(
                select(ConsentEvent.purpose, ConsentEvent.channel, ConsentEvent.granted)
            ).all()
        )
        assert decisions == {
            ("privacy", "chat", True),
            ("health_data", "chat", True),
            ("marketing", "email", False),
            ("marketing", "sms", True),
            ("marketing", "whatsapp", False),
            ("transactional", "email", True),
            ("transactional", "sms", True),
        }
        assert s.execute(select(Lead.kind)).scalars().all() == ["callback"]
        report = ledger.verify(s)
        assert report.ok and report.checked == 7  # one ledger entry per consent event
    # Right to erasure through the chat; the tracker rows go once the turn is saved.
    assert "erased" in chat.say("delete my data")
    with session_scope(factory) as s:
        finish_tracker_erasures(s)
    with session_scope(factory) as s:
        rows = s.execute(
            text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": chat.sender}
        ).scalar_one()
        assert rows == 0
        assert s.execute(select(Contact.email)).scalar_one() is None
        assert ledger.verify(s).ok


def test_declined_privacy_keeps_the_chat_useful_and_stores_nothing(stack):
    base, factory = stack
    chat = Chat(base)
    first = chat.say("hi, my email is decline@example.com")
    assert "haven't saved" in first and "privacy policy" in first
    assert "won't store anything" in chat.say("/deny")
    assert "Why:" in chat.say('/choose_goal{"goal":"diabetes"}')
    assert "privacy policy" in chat.say("/checkout")
    chat.say("/deny")
    with session_scope(factory) as s:
        conversation = s.execute(
            select(Conversation).where(Conversation.sender_id == chat.sender)
        ).scalar_one_or_none()
        assert conversation is None
        assert count(s, Contact, Contact.email == "decline@example.com") == 0
        assert count(s, Lead, Lead.conversation_id == chat.sender) == 0
        # what was typed before the decline is masked in Rasa's tracker store
        stored = "\n".join(
            s.execute(
                text("SELECT data FROM events WHERE sender_id = :s"), {"s": chat.sender}
            ).scalars()
        )
        assert "decline@example.com" not in stored and "<email>" in stored


def test_emergency_gets_guidance_first_and_is_flagged(stack):
    base, factory = stack
    chat = Chat(base)
    reply = chat.say("I have chest pain")
    assert "911" in reply and "Why:" not in reply
    with session_scope(factory) as s:
        conversation = s.execute(
            select(Conversation).where(Conversation.sender_id == chat.sender)
        ).scalar_one()
        assert conversation.sensitive
        assert count(s, Interaction, Interaction.conversation_id == conversation.id) == 1
        assert (
            s.execute(select(Lead.priority).where(Lead.conversation_id == chat.sender)).scalar_one()
            == "urgent"
        )


def test_a_person_asked_for_in_a_website_chat_is_answered_in_its_window(stack):
    base, factory = stack
    chat = Chat(base)
    reply = chat.say("can i talk to a real person please")
    assert "will reply here in this chat" in reply  # a website chat: staff answer in its window
    assert chat.say("/request_callback") == HOLD_NOTICE  # a person has the chat now
    with session_scope(factory) as s:
        lead = s.execute(select(Lead).where(Lead.conversation_id == chat.sender)).scalar_one()
        assert (lead.kind, lead.contact_id) == ("handoff", None)
        conversation = s.execute(
            select(Conversation).where(Conversation.sender_id == chat.sender)
        ).scalar_one()
        assert conversation.handed_off


def test_a_person_takes_the_chat_the_bot_holds_answers_emergencies_and_resumes(stack):
    base, factory = stack
    chat = Chat(base)
    assert "stay quiet, except for anything urgent" in chat.say("I need a real person")
    # while the team has the chat: "a person is on it" once, then nothing, and no product answer
    assert chat.say("how much is the blood pressure support kit?") == HOLD_NOTICE
    for message in ('/choose_goal{"goal":"weight_loss"}', "hi", "/checkout"):
        response = requests.post(chat.url, json=chat_message(chat.chat, message), timeout=60)
        assert response.status_code == 200 and response.json() == [], message
    assert "911" in chat.say("I have chest pain and can't breathe")  # safety, always
    with session_scope(factory) as s:
        auth.create_staff(
            s, email="agent@shop.example", name="Agent", role="sales", password="x" * 16
        )
    with session_scope(factory) as s:  # the inbox's hand-back
        lead = s.execute(
            select(Lead).where(Lead.conversation_id == chat.sender, Lead.kind == "handoff")
        ).scalar_one()
        agent = s.execute(select(StaffUser).where(StaffUser.role == "sales")).scalar_one()
        inbox.hand_back(s, lead_id=lead.id, actor=agent)
    assert "privacy policy" in chat.say("hi")  # the bot answers again
    with session_scope(factory) as s:
        conversation = s.execute(
            select(Conversation).where(Conversation.sender_id == chat.sender)
        ).scalar_one()
        assert not conversation.handed_off and conversation.hold_notice_at is None


GOAL_QUESTION = "What would you like support with?"


def test_checkout_asked_before_consent_is_resumed_with_its_product_and_quantity(stack):
    base, factory = stack
    chat = Chat(base)
    assert "privacy policy" in chat.say("buy 2 of the blood pressure support kit")
    assert "What name" in chat.say("/affirm")  # no health question, goal or picks in between
    assert "email address" in chat.say("Zbigniew Brzęczyszczykiewicz")
    assert "offers" in chat.say("zb@example.com")
    assert "receipts" in chat.say("/deny")
    confirm = chat.say("/affirm")
    assert "2 × Blood Pressure Support Kit" in confirm and "payment link" in confirm
    assert "Which product" not in confirm and "How many" not in confirm
    assert "Pay securely here" in chat.say("/affirm")  # 7 turns from the first message
    from backend.orders.models import Order, OrderItem

    with session_scope(factory) as s:
        contact = s.execute(select(Contact).where(Contact.email == "zb@example.com")).scalar_one()
        assert contact.name == "Zbigniew Brzęczyszczykiewicz"
        item = s.execute(
            select(OrderItem).join(Order).where(Order.contact_id == contact.id)
        ).scalar_one()
        assert (item.sku, item.quantity) == ("BP-001", 2)


def test_picks_built_from_trends_name_no_drug_and_claim_no_cure(stack):
    base, _ = stack
    chat = Chat(base)
    chat.say("hi")
    chat.say("/affirm")
    chat.say("/affirm")
    reply = chat.say('/choose_goal{"goal":"diabetes"}')
    assert "Why:" in reply or "Trending" in reply
    for banned in ("ozempic", "semaglutide", "wegovy", "metformin", "cures", "reverses"):
        assert banned not in reply.lower(), banned


def test_a_goal_typed_with_typos_gets_that_goals_picks(stack):
    base, _ = stack
    chat = Chat(base)
    chat.say("hi")
    chat.say("/affirm")
    assert GOAL_QUESTION in chat.say("/affirm")
    reply = chat.say("i wanna loose wieght")
    assert "Weight Loss Support Bundle" in reply and GOAL_QUESTION not in reply


def test_another_language_is_answered_plainly_with_a_person_offered(stack):
    base, _ = stack
    chat = Chat(base)
    response = requests.post(
        chat.url,
        json=chat_message(chat.chat, "Hola, ¿tienen algo para la presión arterial alta?"),
        timeout=60,
    ).json()
    text = " ".join(r.get("text", "") for r in response)
    assert "only chat in English" in text
    assert any(b["payload"] == "/request_human" for r in response for b in r.get("buttons", []))


def test_changing_ones_mind_changes_the_picks_and_the_stored_goal(stack):
    base, factory = stack
    chat = Chat(base)
    chat.say("hi")
    chat.say("/affirm")
    assert GOAL_QUESTION in chat.say("/affirm")
    first = chat.say("I want to lose weight")
    assert "Weight Loss Support Bundle" in first
    second = chat.say("actually I meant diabetes")
    assert "blood sugar support" in second and "Weight Loss Support Bundle" not in second
    with session_scope(factory) as s:
        conversation = s.execute(
            select(Conversation).where(Conversation.sender_id == chat.sender)
        ).scalar_one()
        assert s.get(Contact, conversation.contact_id).wellness_goal == "diabetes"
        change = s.execute(
            select(Interaction).where(
                Interaction.conversation_id == conversation.id,
                Interaction.kind == "goal_changed",
            )
        ).scalar_one()
        assert change.detail == {"from": "weight_loss", "to": "diabetes"}
        assert ledger.latest_for(s, entity_type="wellness_goal", entity_id=change.id)
        assert ledger.verify(s).ok


def test_a_goal_the_assistant_did_not_catch_is_asked_once(stack):
    base, _ = stack
    chat = Chat(base)
    chat.say("hi")
    chat.say("/affirm")
    chat.say("/affirm")
    reply = chat.say("/choose_goal")  # a goal choice without a goal
    assert reply.count(GOAL_QUESTION) == 1


@pytest.mark.parametrize(
    "name",
    [
        "Zbigniew Brzęczyszczykiewicz",
        "José María",
        "Anne-Marie O'Neil",
        "Madonna",
        "Иван Петров",
        "王芳",
        "محمد",
    ],
)
def test_uncommon_real_names_are_taken_as_names(stack, name):
    base, _ = stack
    chat = Chat(base)
    chat.say("hi")
    chat.say("/affirm")
    chat.say("/deny")
    chat.say('/choose_goal{"goal":"anti_aging"}')
    assert "What name" in chat.say("/request_callback")
    reply = chat.say(name)
    assert "email address" in reply and "can't help" not in reply


def test_talk_to_a_human_still_leaves_the_name_question(stack):
    base, factory = stack
    chat = Chat(base)
    chat.say("hi")
    chat.say("/affirm")
    chat.say("/deny")
    chat.say('/choose_goal{"goal":"anti_aging"}')
    assert "What name" in chat.say("/request_callback")
    chat.say("talk to a human")
    with session_scope(factory) as s:
        assert count(s, Lead, Lead.conversation_id == chat.sender, Lead.kind == "handoff") == 1


def test_gibberish_twice_in_a_row_offers_a_person(stack):
    base, _ = stack
    chat = Chat(base)
    chat.say("hi")
    chat.say("/deny")
    chat.say('/choose_goal{"goal":"anti_aging"}')
    response = requests.post(
        chat.url, json=chat_message(chat.chat, "asdkjh qwpoeiru zzxv"), timeout=60
    ).json()
    assert not any(b["payload"] == "/request_human" for r in response for b in r.get("buttons", []))
    response = requests.post(
        chat.url, json=chat_message(chat.chat, "lkjsdf mnbvc qwoeiu"), timeout=60
    ).json()
    assert any(b["payload"] == "/request_human" for r in response for b in r.get("buttons", []))


# --- the edge: who may speak, what Rasa's HTTP API allows --------------------------------------


def events_of(factory, sender: str) -> int:
    with session_scope(factory) as s:
        return s.execute(
            text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": sender}
        ).scalar_one()


def test_a_website_chat_cannot_speak_as_a_whatsapp_customer(stack):
    base, factory = stack
    url = f"{base}/webhooks/rest/webhook"
    victim = "whatsapp:+14155550123"
    chat = web_chat()
    forged = [
        {"sender": victim, "message": "what data do you have about me?"},
        {**chat_message(chat, "delete my data"), "sender": victim},
        {**chat_message(chat, "hi"), "sender": web_chat().sender},  # another visitor's id
    ]
    for body in forged:
        refused = requests.post(url, json=body, timeout=30)
        assert refused.status_code == 403 and refused.json()["error"], body["sender"]
    assert events_of(factory, victim) == 0  # Rasa never saw the messages
    for body in ([chat_message(chat, "hi")], "hi"):  # a JSON array or string: 400, not 500
        assert requests.post(url, json=body, timeout=30).status_code == 400
    too_long = requests.post(url, json=chat_message(chat, "a" * 2001), timeout=30)
    assert too_long.status_code == 413 and "shorten" in too_long.json()["error"]
    assert events_of(factory, chat.sender) == 0


def test_rasa_http_api_needs_the_token_and_allows_only_the_shop_origin(stack):
    base, _ = stack
    tracker = f"{base}/conversations/{web_chat().sender}/tracker"
    assert requests.get(tracker, timeout=30).status_code == 401
    assert (
        requests.get(tracker, params={"token": "wrong-token-123456"}, timeout=30).status_code == 401
    )
    assert requests.get(tracker, params={"token": RASA_TOKEN}, timeout=30).status_code == 200
    # CORS: even with the token, a browser on another origin may not read Rasa's answers.
    for path in ("/status", "/webhooks/rest/"):
        url, token = f"{base}{path}", {"token": RASA_TOKEN}
        foreign = requests.get(
            url, params=token, headers={"Origin": "https://evil.test"}, timeout=30
        )
        assert "Access-Control-Allow-Origin" not in foreign.headers
        shop = requests.get(url, params=token, headers={"Origin": SHOP_ORIGIN}, timeout=30)
        assert shop.headers.get("Access-Control-Allow-Origin") == SHOP_ORIGIN
