"""Human takeover: the chat's pause flag, the hold action, Rasa's TakeoverPolicy and the inbox
actions that start and end a takeover, on a real migrated SQLite database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import select, update

from actions import rights
from actions import takeover as hold
from backend import safety
from backend.contacts.models import Conversation
from backend.contacts.service import mark_conversation
from backend.db import session_scope, utcnow
from backend.outbox.models import OutboxMessage
from backend.rasa_ext import takeover_policy
from backend.sales import inbox, takeover
from backend.sales.models import ChatReply, Lead, LeadActivity
from tests.integration.messaging_support import make_contact
from tests.integration.test_actions import backend, run, texts, tracker  # noqa: F401
from tests.integration.test_dashboard import bearer, make_keys
from tests.integration.test_sales_inbox import _client

ROOT = Path(__file__).resolve().parents[2]
WEB = "web-2f1c7a9e-5b3d-4c8e-9a71-0d4e6b2c8f13"
WA = "whatsapp:+14155550123"


@pytest.fixture
def db(session_factory):
    s = session_factory()
    yield s
    s.close()


@pytest.fixture
def keys(session_factory):
    return make_keys(session_factory)


@pytest.fixture
def client(settings, session_factory):
    with _client(settings, session_factory) as c:
        yield c


def _conversation(session_factory, sender=WEB) -> Conversation:
    with session_scope(session_factory) as s:
        found = s.execute(select(Conversation).where(Conversation.sender_id == sender)).scalar_one()
        s.expunge(found)
        return found


# --- asking for a person ---------------------------------------------------------------------


async def test_asking_for_a_person_in_the_website_chat_pauses_the_bot(session_factory):
    messages, _ = await run(rights.RequestHuman(), tracker(sender=WEB, intent="request_human"))
    assert "stay quiet, except for anything urgent" in texts(messages)
    assert _conversation(session_factory).handed_off


async def test_a_reply_only_by_email_leaves_the_bot_answering_in_the_chat(db, session_factory):
    make_contact(db, sender="t1", marketing=(), transactional=("email",), email="jane@shop.test")
    db.commit()
    messages, _ = await run(rights.RequestHuman(), tracker(sender="t1", intent="request_human"))
    assert "reply by email" in texts(messages)
    assert "Meanwhile I can still answer questions here" in texts(messages)
    assert not _conversation(session_factory, "t1").handed_off
    assert db.execute(select(Lead.kind)).scalar_one() == "handoff"


# --- the hold action -------------------------------------------------------------------------


async def test_held_messages_get_a_person_is_on_it_once(session_factory):
    with session_scope(session_factory) as s:
        takeover.pause(s, sender_id=WEB)
    first, _ = await run(hold.TakeoverHold(), tracker(sender=WEB, text="price of the kit?"))
    second, _ = await run(hold.TakeoverHold(), tracker(sender=WEB, text="hello?"))
    assert texts(first) == hold.HOLD_NOTICE
    assert second == []  # silence: the team reads it in the inbox
    assert _conversation(session_factory).hold_notice_at is not None


async def test_an_emergency_the_classifier_missed_is_still_answered_while_held(session_factory):
    with session_scope(session_factory) as s:
        takeover.pause(s, sender_id=WEB)
    messages, _ = await run(
        hold.TakeoverHold(),
        tracker(sender=WEB, text="I have crushing chest pain", intent="ask_product_question"),
    )
    assert texts(messages).startswith(safety.EMERGENCY_GUIDANCE)
    assert _conversation(session_factory).sensitive


# --- Rasa's policy ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def domain():
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture
def policy(tmp_path, session_factory, monkeypatch):
    monkeypatch.setattr(takeover_policy, "session_factory", lambda: session_factory)
    return takeover_policy.TakeoverPolicy.create(
        takeover_policy.TakeoverPolicy.get_default_config(),
        LocalModelStorage(tmp_path),
        Resource("takeover"),
        ExecutionContext(GraphSchema({}), "test"),
    )


def _predict(policy, domain, sender, intent, *, after=()):
    events = [
        ActionExecuted(ACTION_LISTEN_NAME),
        UserUttered("some words", intent={"name": intent, "confidence": 0.9}),
        *[ActionExecuted(name) for name in after],
    ]
    tracker_ = DialogueStateTracker.from_events(sender, events, domain.slots)
    prediction = policy.predict_action_probabilities(tracker_, domain)
    if max(prediction.probabilities) == 0:
        return None
    return domain.action_names_or_texts[prediction.max_confidence_index]


def test_policy_holds_product_talk_only_while_a_person_has_the_chat(
    policy, domain, session_factory
):
    assert _predict(policy, domain, WEB, "ask_product_question") is None  # not paused: abstain
    with session_scope(session_factory) as s:
        takeover.pause(s, sender_id=WEB)
    for intent in ("ask_product_question", "checkout", "greet", "request_human", "nlu_fallback"):
        assert _predict(policy, domain, WEB, intent) == "action_takeover_hold", intent
    for intent in ("report_emergency", "ask_medical_advice", "opt_out"):
        assert _predict(policy, domain, WEB, intent) is None, intent  # the usual rules answer
    after_hold = _predict(policy, domain, WEB, "checkout", after=["action_takeover_hold"])
    assert after_hold == ACTION_LISTEN_NAME
    with session_scope(session_factory) as s:
        assert takeover.resume(s, sender_id=WEB)
    assert _predict(policy, domain, WEB, "ask_product_question") is None


def test_policy_beats_the_rule_policy_and_an_active_form(policy, domain, session_factory):
    with session_scope(session_factory) as s:
        takeover.pause(s, sender_id=WEB)
    events = [
        ActionExecuted(ACTION_LISTEN_NAME),
        UserUttered("x", intent={"name": "checkout", "confidence": 0.9}),
    ]
    prediction = policy.predict_action_probabilities(
        DialogueStateTracker.from_events(WEB, events, domain.slots), domain
    )
    # not based on the user's message (as a form's next question) and priority above rules (4)
    assert prediction.is_no_user_prediction and prediction.policy_priority > 4


def test_policy_lets_the_bot_answer_when_the_database_is_down(policy, domain, monkeypatch):
    def broken():
        raise RuntimeError("database down")

    monkeypatch.setattr(takeover_policy, "session_factory", broken)
    assert _predict(policy, domain, WEB, "ask_product_question") is None


# --- the inbox starts and ends a takeover ----------------------------------------------------


def _staff(session, role="sales"):
    from backend.auth.models import StaffUser

    return session.execute(select(StaffUser).where(StaffUser.role == role)).scalar_one()


def _open_lead(session_factory, sender=WEB, *, paused=False) -> int:
    from backend.sales.service import request_handoff

    with session_scope(session_factory) as s:
        return request_handoff(s, sender_id=sender, reason="asked", pause=paused).id


def test_take_over_through_the_api_assigns_pauses_and_is_recorded(client, keys, session_factory):
    lead_id = _open_lead(session_factory)
    assert not _conversation(session_factory).handed_off
    r = client.post(f"/api/admin/leads/{lead_id}/take-over", headers=bearer(keys["sales"]))
    assert r.status_code == 200, r.text
    assert r.json()["bot_paused"] is True
    assert _conversation(session_factory).handed_off
    with session_scope(session_factory) as s:
        lead = s.get(Lead, lead_id)
        assert (lead.status, lead.assigned_to) == ("assigned", _staff(s).id)
        # the routing decision first (nobody covers it: shared queue), then the takeover
        assert s.execute(select(LeadActivity.action)).scalars().all() == ["queued", "took_over"]
    readonly = client.post(
        f"/api/admin/leads/{lead_id}/take-over", headers=bearer(keys["executive"])
    )
    assert readonly.status_code == 403


def test_a_reply_in_the_chat_window_takes_the_chat(keys, session_factory, settings):
    lead_id = _open_lead(session_factory)
    with session_scope(session_factory) as s:
        result = inbox.reply(
            s, settings=settings, lead_id=lead_id, actor=_staff(s), text="Hi, Sam here",
            channel="chat",
        )  # fmt: skip
        assert result.chat_reply is not None
    assert _conversation(session_factory).handed_off
    with session_scope(session_factory) as s:
        assert s.execute(select(ChatReply.body)).scalar_one() == "Hi, Sam here"


def test_hand_back_resumes_the_bot_and_the_next_takeover_says_it_again(keys, session_factory):
    lead_id = _open_lead(session_factory, paused=True)
    with session_scope(session_factory) as s:
        assert takeover.hold_notice_due(s, sender_id=WEB)
        assert not takeover.hold_notice_due(s, sender_id=WEB)
    with session_scope(session_factory) as s:
        inbox.hand_back(s, lead_id=lead_id, actor=_staff(s))
    conversation = _conversation(session_factory)
    assert not conversation.handed_off and conversation.hold_notice_at is None
    with session_scope(session_factory) as s:
        assert not takeover.hold_notice_due(s, sender_id=WEB)  # not paused: nothing to say
        inbox.take_over(s, lead_id=lead_id, actor=_staff(s))
        assert takeover.hold_notice_due(s, sender_id=WEB)


def test_a_whatsapp_chat_is_taken_by_a_reply_on_whatsapp(keys, session_factory, settings, db):
    make_contact(db, sender=WA, marketing=(), transactional=("whatsapp",))
    # they wrote a minute ago: inside WhatsApp's 24-hour window
    mark_conversation(db, sender_id=WA, channel="whatsapp", last_inbound_at=utcnow())
    db.commit()
    lead_id = _open_lead(session_factory, WA)
    with session_scope(session_factory) as s:
        result = inbox.reply(s, settings=settings, lead_id=lead_id, actor=_staff(s), text="Hi")
        assert result.channel == "whatsapp"
    assert _conversation(session_factory, WA).handed_off


# --- what only the website widget gets ---------------------------------------------------------


@pytest.mark.parametrize("sender", [WEB, WA, "t1"])
async def test_recommendations_come_as_product_cards_with_pictures_and_buttons(sender):
    from actions import recommend

    messages, _ = await run(
        recommend.Recommend(),
        tracker(
            sender=sender,
            intent="choose_goal",
            entities=[("goal", "weight_loss")],
            slots={"goal": "weight_loss", "privacy_consent": False},
        ),
    )
    assert "Why:" in messages[0]["text"]  # the text answer stays, for every channel
    if sender not in (WEB, WA):
        assert len(messages) == 1  # no custom payload: other channels would send it as JSON
        return
    cards = messages[1]["custom"]["cards"]
    assert cards and {"sku", "name", "price", "stock", "why", "image_url", "buttons"} <= set(
        cards[0]
    )
    assert cards[0]["price"].startswith("$")
    sku = cards[0]["sku"]
    assert cards[0]["image_url"].endswith(f"/static/products/{sku}.png")
    assert [(b["title"], b["payload"]) for b in cards[0]["buttons"]] == [
        ("Add to cart", f'/add_to_cart{{"product":"{sku}"}}'),
        ("Ask a question", f'/ask_product_question{{"product": "{sku}"}}'),
    ]


@pytest.mark.parametrize(("sender", "custom"), [(WEB, {"erased": True}), (WA, None)])
def test_erasure_tells_only_the_website_widget_to_forget_its_history(sender, custom):
    from rasa_sdk.executor import CollectingDispatcher

    dispatcher = CollectingDispatcher()
    rights._erase(dispatcher, tracker(sender=sender, intent="request_data_deletion"))
    [message] = dispatcher.messages
    assert "history will be deleted" in message["text"]
    # other channels would send a custom payload as JSON text: the widget alone gets it
    assert message["custom"] == (custom or {})


# --- the takeover timeout (TAKEOVER_IDLE_MINUTES, job takeover_timeout) ------------------------


class RecordingFeed:
    """A chat feed that records what would be pushed to the website chat windows."""

    def __init__(self):
        self.pushed: list[tuple[str, dict]] = []

    def publish(self, conversation_id: str, message: dict) -> None:
        self.pushed.append((conversation_id, message))


def _idle_history(session_factory, lead_id: int) -> list[tuple[str, int | None, dict]]:
    with session_scope(session_factory) as s:
        rows = s.execute(
            select(LeadActivity)
            .where(LeadActivity.lead_id == lead_id, LeadActivity.action == "handed_back")
            .order_by(LeadActivity.id)
        ).scalars()
        return [(a.action, a.actor_id, dict(a.detail)) for a in rows]


def test_an_idle_takeover_of_a_website_chat_is_handed_back_once_and_recorded(
    session_factory, settings
):
    lead_id = _open_lead(session_factory, paused=True)
    taken_at = _conversation(session_factory).handed_off_at
    assert taken_at is not None
    feed = RecordingFeed()
    minutes = settings.takeover_idle_minutes
    with session_scope(session_factory) as s:  # not yet idle long enough: nothing changes
        early = inbox.release_idle(
            s, settings=settings, now=utcnow() + timedelta(minutes=minutes - 1), feed=feed
        )
    assert early == {"released": 0, "told": 0} and _conversation(session_factory).handed_off
    later = utcnow() + timedelta(minutes=minutes + 1)
    with session_scope(session_factory) as s:
        assert inbox.release_idle(s, settings=settings, now=later, feed=feed) == {
            "released": 1,
            "told": 1,
        }
    conversation = _conversation(session_factory)
    assert not conversation.handed_off and conversation.handed_off_at is None
    with session_scope(session_factory) as s:
        assert s.execute(select(ChatReply.body)).scalars().all() == [inbox.IDLE_NOTICE]
    assert [m["type"] for _, m in feed.pushed] == ["reply", "handback"]
    assert feed.pushed[0][1]["text"] == inbox.IDLE_NOTICE
    [(action, actor, detail)] = _idle_history(session_factory, lead_id)
    assert (action, actor) == ("handed_back", None)  # the system, not a person
    assert detail["reason"] == "idle" and detail["told"] == "chat"
    with session_scope(session_factory) as s:  # a second run (or scheduler) tells nobody again
        assert inbox.release_idle(s, settings=settings, now=later, feed=feed)["released"] == 0
    assert len(feed.pushed) == 2


def test_a_staff_reply_restarts_the_idle_clock(keys, session_factory, settings):
    lead_id = _open_lead(session_factory, paused=True)
    minutes = settings.takeover_idle_minutes
    with session_scope(session_factory) as s:
        s.execute(
            update(Conversation)
            .where(Conversation.sender_id == WEB)
            .values(handed_off_at=utcnow() - timedelta(minutes=minutes + 5))
        )
        inbox.reply(
            s, settings=settings, lead_id=lead_id, actor=_staff(s), text="On it", channel="chat"
        )
    with session_scope(session_factory) as s:
        assert inbox.release_idle(s, settings=settings, now=utcnow())["released"] == 0
    assert _conversation(session_factory).handed_off


def test_an_idle_whatsapp_takeover_tells_the_customer_on_whatsapp_through_the_gate(
    keys, session_factory, settings, db
):
    make_contact(db, sender=WA, marketing=(), transactional=("whatsapp",))
    mark_conversation(db, sender_id=WA, channel="whatsapp", last_inbound_at=utcnow())
    db.commit()
    lead_id = _open_lead(session_factory, WA, paused=True)
    later = utcnow() + timedelta(minutes=settings.takeover_idle_minutes + 1)
    with session_scope(session_factory) as s:
        assert inbox.release_idle(s, settings=settings, now=later)["told"] == 1
    assert not _conversation(session_factory, WA).handed_off
    with session_scope(session_factory) as s:
        [queued] = (
            s.execute(select(OutboxMessage).where(OutboxMessage.kind == "whatsapp")).scalars().all()
        )
        assert (queued.kind, queued.purpose) == ("whatsapp", "transactional")
        assert queued.payload["context"]["body"] == inbox.IDLE_NOTICE
    [(action, _, detail)] = _idle_history(session_factory, lead_id)
    assert action == "handed_back" and detail["told"] == "whatsapp"
    assert detail["outbox_id"] == queued.id


def test_the_takeover_timeout_job_is_registered_and_runs(session_factory, settings):
    from backend import bootstrap
    from backend.jobs.registry import REGISTRY

    bootstrap.load_jobs()
    _open_lead(session_factory, paused=True)
    with session_scope(session_factory) as s:
        s.execute(update(Conversation).values(handed_off_at=utcnow() - timedelta(days=1)))
    with session_scope(session_factory) as s:
        assert REGISTRY["takeover_timeout"].fn(s, settings) == {"released": 1, "told": 1}
    assert not _conversation(session_factory).handed_off
