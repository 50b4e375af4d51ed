"""Every custom action and form validator against a real migrated SQLite database.

Trackers are built by hand; the actions reach the test database through actions.backend_link.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import AllSlotsReset, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select

from actions import asks, backend_link, consent, contact, orders, recommend, rights, safety
from backend import ledger
from backend.catalog.service import SAMPLE_CATALOG, load_catalog
from backend.contacts.models import ConsentEvent, Contact, Conversation, DataSubjectRequest
from backend.db import session_scope, utcnow
from backend.messaging.models import FollowUp
from backend.orders.models import Order
from backend.orders.payments import FakePayments
from backend.outbox.models import OutboxMessage
from backend.sales.models import Lead

# Each hand-built tracker is a new turn of its chat (a session started at a new time): the
# same action with the same words twice is then two turns, not a resend (backend/replay).
TURNS = itertools.count(1)
DOMAIN = yaml.safe_load((Path(__file__).resolve().parents[2] / "domain.yml").read_text())


@pytest.fixture(autouse=True)
def backend(settings, session_factory):
    with session_scope(session_factory) as s:
        load_catalog(s, source=str(SAMPLE_CATALOG))
    payments = FakePayments()
    backend_link.override(settings=settings, session_factory=session_factory, payments=payments)
    yield payments
    backend_link.reset()


@pytest.fixture
def db(session_factory):
    s = session_factory()
    yield s
    s.close()


def tracker(
    *,
    sender="t1",
    slots=None,
    text=None,
    intent="inform",
    entities=(),
    loop=None,
    slot_events=(),
    history=(),
):
    if text is None:  # a yes/no is a button press unless the test types it
        text = f"/{intent}" if intent in ("affirm", "deny") else ""
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": [{"entity": k, "value": v} for k, v in entities],
    }
    events = [
        {"event": "session_started", "timestamp": float(next(TURNS))},
        *history,
        {"event": "user", "text": text, "parse_data": latest, "input_channel": "rest"},
    ]
    events += [{"event": "slot", "name": k, "value": v} for k, v in slot_events]
    all_slots = {"email_failures": 0, "phone_failures": 0, **(slots or {})}
    all_slots.update(dict(slot_events))
    return Tracker(
        sender,
        all_slots,
        latest,
        events,
        False,
        None,
        {"name": loop} if loop else {},
        "action_listen",
    )


async def run(action, t):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, DOMAIN)
    return dispatcher.messages, events


def texts(messages) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


def count(db, model) -> int:
    db.expire_all()
    return db.execute(select(func.count()).select_from(model)).scalar_one()


async def consent_given(sender="t1", health=True):
    form = consent.ValidateOnboardingForm()
    await run(
        form,
        tracker(
            sender=sender,
            intent="affirm",
            loop="onboarding_form",
            slot_events=[("privacy_consent", True)],
        ),
    )
    if health is not None:
        await run(
            form,
            tracker(
                sender=sender,
                intent="affirm" if health else "deny",
                loop="onboarding_form",
                slots={"privacy_consent": True},
                slot_events=[("health_consent", health)],
            ),
        )


# --- onboarding ------------------------------------------------------------------------


async def test_privacy_question_links_the_policy_and_notes_unsaved_details(settings):
    messages, _ = await run(
        consent.AskPrivacyConsent(),
        tracker(
            text="hi I'm jane@example.com", intent="greet", entities=[("email", "jane@example.com")]
        ),
    )
    assert "haven't saved" in messages[0]["text"]
    assert settings.privacy_policy_url in messages[1]["text"]
    assert [b["payload"] for b in messages[1]["buttons"]] == ["/affirm", "/deny"]


async def test_accepting_privacy_creates_the_contact_with_proof(db, settings):
    messages, events = await run(
        consent.ValidateOnboardingForm(),
        tracker(intent="affirm", loop="onboarding_form", slot_events=[("privacy_consent", True)]),
    )
    assert SlotSet("privacy_consent", True) in events
    event = db.execute(select(ConsentEvent)).scalar_one()
    assert (event.purpose, event.granted, event.wording_version) == (
        "privacy",
        True,
        settings.privacy_policy_version,
    )
    assert settings.privacy_policy_url in event.wording
    assert count(db, Contact) == 1 and ledger.verify(db).checked == 1


@pytest.mark.parametrize("purpose", ["checkout", "callback"])
async def test_a_checkout_asked_before_consent_resumes_right_after_the_privacy_answer(purpose):
    form = consent.ValidateOnboardingForm()
    slots = {"privacy_consent": True, "contact_purpose": purpose}
    assert await form.required_slots(
        ["privacy_consent", "health_consent", "goal"],
        CollectingDispatcher(),
        tracker(slots=slots),
        DOMAIN,
    ) == ["privacy_consent"]


async def test_declining_privacy_stores_nothing_and_skips_health_consent(db):
    form = consent.ValidateOnboardingForm()
    messages, events = await run(
        form,
        tracker(intent="deny", loop="onboarding_form", slot_events=[("privacy_consent", False)]),
    )
    assert "won't store anything" in texts(messages)
    assert SlotSet("requested_slot", "goal") in events  # no health-data question
    assert count(db, Contact) == count(db, ConsentEvent) == count(db, Conversation) == 0


async def test_health_consent_is_its_own_event(db):
    await consent_given(health=False)
    events = db.execute(
        select(ConsentEvent.purpose, ConsentEvent.granted).order_by(ConsentEvent.id)
    ).all()
    assert events == [("privacy", True), ("health_data", False)]


async def test_goal_validation_only_accepts_known_goals():
    form = consent.ValidateOnboardingForm()
    _, events = await run(
        form,
        tracker(
            intent="choose_goal",
            loop="onboarding_form",
            slots={"privacy_consent": False},
            slot_events=[("goal", "world_peace")],
        ),
    )
    assert SlotSet("goal", None) in events


async def test_reset_privacy_lets_the_form_ask_again():
    _, events = await run(consent.ResetPrivacy(), tracker())
    assert events == [SlotSet("privacy_consent", None)]


async def test_ask_actions_have_the_form_question_names():
    names = {
        cls().name()
        for cls in (
            asks.AskGoal,
            asks.AskName,
            asks.AskEmail,
            asks.AskPhone,
            asks.AskPreferredTime,
            asks.AskQuantity,
        )
    }
    # domain actions are names, or {name: {send_domain: true}} for the form validators
    declared = {a if isinstance(a, str) else next(iter(a)) for a in DOMAIN["actions"]}
    assert names <= declared
    messages, _ = await run(asks.AskGoal(), tracker())
    assert '/choose_goal{"goal":"diabetes"}' in [b["payload"] for b in messages[0]["buttons"]]


# --- consent needs a clear yes (issue 11, item 4) ----------------------------------------

NONSENSE = ["A" * 10_000, "x", "AAAA", "yes" * 20, "I don't agree", "yes but no", "asdf qwer"]


@pytest.mark.parametrize("text", NONSENSE)
async def test_nonsense_classified_affirm_records_no_consent_and_asks_again(db, text):
    messages, events = await run(
        consent.ValidateOnboardingForm(),
        tracker(
            text=text,
            intent="affirm",
            loop="onboarding_form",
            slot_events=[("privacy_consent", True)],
        ),
    )
    assert SlotSet("privacy_consent", None) in events
    assert texts(messages) == "Please answer yes or no, or use the buttons."
    assert count(db, ConsentEvent) == count(db, Contact) == count(db, ledger.LedgerEntry) == 0


@pytest.mark.parametrize(
    "text", ["/affirm", "yes", "Yes!", "sure, go ahead", "I agree", "ok", "oui"]
)
async def test_a_button_or_a_short_clear_yes_records_consent(db, text):
    _, events = await run(
        consent.ValidateOnboardingForm(),
        tracker(
            text=text,
            intent="affirm",
            loop="onboarding_form",
            slot_events=[("privacy_consent", True)],
        ),
    )
    assert SlotSet("privacy_consent", True) in events
    assert db.execute(select(ConsentEvent.purpose, ConsentEvent.granted)).all() == [
        ("privacy", True)
    ]
    assert ledger.verify(db).checked == 1


async def test_health_consent_needs_a_clear_yes_too(db):
    await consent_given(health=None)
    form = consent.ValidateOnboardingForm()
    health = {"loop": "onboarding_form", "slots": {"privacy_consent": True}, "intent": "affirm"}
    messages, events = await run(
        form, tracker(text="Z" * 5000, slot_events=[("health_consent", True)], **health)
    )
    assert SlotSet("health_consent", None) in events and "yes or no" in texts(messages)
    assert db.execute(select(ConsentEvent.purpose)).scalars().all() == ["privacy"]
    db.rollback()  # the test's read ends before the action writes (SQLite's one writer)
    _, events = await run(
        form, tracker(text="yes", slot_events=[("health_consent", True)], **health)
    )
    assert SlotSet("health_consent", True) in events
    recorded = db.execute(select(ConsentEvent.purpose).order_by(ConsentEvent.id)).scalars().all()
    assert recorded == ["privacy", "health_data"]


async def test_receipts_consent_marketing_choice_and_order_confirmation_need_a_clear_answer():
    form = contact.ValidateContactForm()
    messages, events = await run(
        form,
        tracker(
            text="x", intent="affirm", loop="contact_form",
            slot_events=[("transactional_consent", True)],
        ),
    )  # fmt: skip
    assert SlotSet("transactional_consent", None) in events and "yes or no" in texts(messages)
    _, events = await run(
        form,
        tracker(
            text="email " + "blah " * 100, intent="inform", loop="contact_form",
            slot_events=[("marketing_channels", ["email"])],
        ),
    )  # fmt: skip
    assert SlotSet("marketing_channels", None) in events
    _, events = await run(
        form,
        tracker(
            text="email and sms please", intent="inform", loop="contact_form",
            slot_events=[("marketing_channels", ["email", "sms"])],
        ),
    )  # fmt: skip
    assert SlotSet("marketing_channels", ["email", "sms"]) in events
    _, events = await run(
        orders.ValidateCheckoutForm(),
        tracker(
            text="A" * 10_000, intent="affirm", loop="checkout_form",
            slot_events=[("order_confirmed", True)],
        ),
    )  # fmt: skip
    assert SlotSet("order_confirmed", None) in events


# --- recommendations and product answers ----------------------------------------------


async def test_recommendations_show_price_stock_why_bundle_and_disclaimer(db):
    await consent_given()
    messages, events = await run(
        recommend.Recommend(),
        tracker(
            intent="choose_goal",
            entities=[("goal", "weight_loss")],
            slots={"goal": "weight_loss", "privacy_consent": True},
        ),
    )
    text = messages[0]["text"]
    assert "$" in text and "Why:" in text and "in stock" in text
    assert "not been evaluated by the Food and Drug Administration" in text
    bundle = next(e for e in events if e["name"] == "bundle")["value"]
    assert bundle.startswith("bundle:") and "off together" in text
    assert [b["payload"] for b in messages[0]["buttons"]] == [
        f'/add_to_cart{{"product":"{bundle}"}}',
        "/ask_product_question",
        "/request_callback",
        "/checkout",
    ]
    recommended = next(e for e in events if e["name"] == "recommended")["value"]
    assert recommended and {"sku", "name"} <= set(recommended[0])
    assert db.execute(select(Contact.wellness_goal)).scalar_one() == "weight_loss"


async def test_recommendations_without_consent_store_nothing(db):
    messages, _ = await run(
        recommend.Recommend(),
        tracker(
            intent="choose_goal",
            entities=[("goal", "diabetes")],
            slots={"goal": "diabetes", "privacy_consent": False},
        ),
    )
    assert "Why:" in messages[0]["text"]
    assert "blood sugar support" in messages[0]["text"] and "diabetes" not in messages[0]["text"]
    assert count(db, Conversation) == 0


async def test_changing_ones_mind_shows_the_new_goals_picks_and_changes_the_stored_goal(db):
    await consent_given()
    weight = {"goal": "weight_loss", "privacy_consent": True, "health_consent": True}
    await run(
        recommend.Recommend(),
        tracker(intent="choose_goal", entities=[("goal", "weight_loss")], slots=weight),
    )
    # "actually I meant diabetes": the goal entity has already refilled the slot
    messages, _ = await run(
        recommend.Recommend(),
        tracker(
            text="actually I meant diabetes",
            intent="choose_goal",
            entities=[("goal", "diabetes")],
            slots={**weight, "goal": "diabetes"},
        ),
    )
    text = messages[0]["text"]
    assert "blood sugar support" in text and "Weight Loss Support Bundle" not in text
    db.expire_all()
    assert db.execute(select(Contact.wellness_goal)).scalar_one() == "diabetes"
    changes = db.execute(
        select(ledger.LedgerEntry).where(ledger.LedgerEntry.entity_type == "wellness_goal")
    ).scalars()
    assert [e.action for e in changes] == ["changed"] and ledger.verify(db).ok


async def test_a_goal_choice_without_a_known_goal_asks_instead_of_repeating_old_picks():
    messages, _ = await run(
        recommend.Recommend(),
        tracker(
            text="actually I meant the other one",
            intent="choose_goal",
            slots={"goal": "weight_loss", "privacy_consent": False},
        ),
    )
    assert len(messages) == 1 and "Why:" not in messages[0]["text"]
    assert messages[0]["text"] == asks.GOAL_QUESTION and len(messages[0]["buttons"]) == 4


async def test_inside_the_onboarding_form_an_unknown_goal_is_not_asked_twice():
    messages, _ = await run(
        recommend.Recommend(),
        tracker(
            text="wieght loss",
            intent="choose_goal",
            loop="onboarding_form",
            slots={"privacy_consent": True},
        ),
    )
    # the form asks the goal question right after: here only a short apology, no buttons
    assert [m.get("buttons") or [] for m in messages] == [[]]
    assert asks.GOAL_QUESTION not in texts(messages)


async def test_product_pitch_gives_way_to_the_safety_net(db):
    messages, _ = await run(
        recommend.Recommend(),
        tracker(
            text="can I take this with my metformin",
            intent="choose_goal",
            slots={"goal": "diabetes"},
        ),
    )
    assert "not medical advice" in messages[0]["text"] and "Why:" not in texts(messages)
    assert db.execute(select(Conversation.sensitive)).scalar_one() is True


async def test_product_question_answers_from_catalog_data():
    messages, events = await run(
        recommend.AnswerProduct(),
        tracker(
            text="what are the ingredients of AA-002",
            intent="ask_product_question",
            entities=[("product", "AA-002")],
        ),
    )
    assert messages[0]["text"].startswith("Marine Collagen Peptides (AA-002): Ingredients:")
    assert SlotSet("product", "AA-002") in events


async def test_unknown_product_is_not_invented():
    messages, _ = await run(
        recommend.AnswerProduct(),
        tracker(
            text="tell me about unicorn dust",
            intent="ask_product_question",
            entities=[("product", "unicorn dust")],
        ),
    )
    assert "couldn't find" in messages[0]["text"]


async def test_product_question_without_a_product_offers_the_recommended_ones():
    messages, _ = await run(
        recommend.AnswerProduct(),
        tracker(
            intent="ask_product_question",
            slots={"recommended": [{"sku": "WL-002", "name": "Glucomannan Fiber Capsules"}]},
        ),
    )
    assert messages[0]["buttons"][0]["payload"] == '/ask_product_question{"product":"WL-002"}'


async def test_browse_and_trending_answer_without_storing(db):
    messages, _ = await run(
        recommend.BrowseProducts(),
        tracker(
            text="show me blood pressure stuff",
            intent="browse_products",
            entities=[("goal", "blood_pressure")],
        ),
    )
    assert "BP-001" in messages[0]["text"]
    messages, _ = await run(recommend.ShowTrending(), tracker(intent="ask_trending"))
    assert messages and messages[0]["buttons"]
    assert count(db, Conversation) == 0


# --- contact form ----------------------------------------------------------------------


async def test_contact_form_asks_phone_only_when_needed():
    form = contact.ValidateContactForm()
    slots = contact_slots = {"contact_purpose": "checkout", "marketing_channels": ["email"]}
    required = await form.required_slots(
        DOMAIN["forms"]["contact_form"]["required_slots"],
        CollectingDispatcher(),
        tracker(slots=slots),
        DOMAIN,
    )
    assert required == ["name", "email", "marketing_channels", "transactional_consent"]
    contact_slots = {**slots, "marketing_channels": ["whatsapp"]}
    required = await form.required_slots(
        DOMAIN["forms"]["contact_form"]["required_slots"],
        CollectingDispatcher(),
        tracker(slots=contact_slots),
        DOMAIN,
    )
    assert "phone" in required and "preferred_time" not in required
    required = await form.required_slots(
        DOMAIN["forms"]["contact_form"]["required_slots"],
        CollectingDispatcher(),
        tracker(slots={"contact_purpose": "callback"}),
        DOMAIN,
    )
    assert {"phone", "preferred_time"} <= set(required)


async def test_invalid_email_is_reasked_with_the_reason_then_accepted():
    form = contact.ValidateContactForm()
    messages, events = await run(
        form,
        tracker(
            text="jane@",
            loop="contact_form",
            slots={"requested_slot": "email"},
            slot_events=[("email", "jane@")],
        ),
    )
    assert "that email has no domain" in messages[0]["text"]
    assert SlotSet("email", None) in events and SlotSet("email_failures", 1) in events
    messages, events = await run(
        form,
        tracker(
            text="jane@example.com",
            loop="contact_form",
            slots={"email_failures": 1},
            slot_events=[("email", "jane@example.com")],
        ),
    )
    assert SlotSet("email", "jane@example.com") in events
    assert SlotSet("email_failures", 0) in events


async def test_third_failure_offers_skip_or_a_person_and_skip_works():
    form = contact.ValidateContactForm()
    messages, _ = await run(
        form,
        tracker(
            text="nope",
            loop="contact_form",
            slots={"email_failures": 2},
            slot_events=[("email", "bad@")],
        ),
    )
    assert "skip" in messages[0]["text"]
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/deny", "/request_human"]
    _, events = await run(
        form,
        tracker(
            text="skip",
            intent="deny",
            loop="contact_form",
            slots={"email_failures": 3},
            slot_events=[("email", "skip")],
        ),
    )
    assert SlotSet("email", contact.SKIPPED) in events


async def test_invalid_phone_is_reasked_and_valid_one_normalised(settings):
    form = contact.ValidateContactForm()
    messages, events = await run(
        form,
        tracker(
            text="12",
            loop="contact_form",
            slots={"contact_purpose": "callback"},
            slot_events=[("phone", "12")],
        ),
    )
    assert "too short" in messages[0]["text"] and SlotSet("phone", None) in events
    _, events = await run(
        form,
        tracker(
            text="(415) 555-0123",
            loop="contact_form",
            slots={"contact_purpose": "callback"},
            slot_events=[("phone", "(415) 555-0123")],
        ),
    )
    assert SlotSet("phone", "+14155550123") in events


@pytest.mark.parametrize(
    "typed",
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
async def test_uncommon_real_names_are_accepted(typed):
    _, events = await run(
        contact.ValidateContactForm(), tracker(loop="contact_form", slot_events=[("name", typed)])
    )
    assert SlotSet("name", typed) in events


async def test_a_name_with_digits_is_reasked_with_the_reason():
    messages, events = await run(
        contact.ValidateContactForm(),
        tracker(loop="contact_form", slot_events=[("name", "call me at 0415 555")]),
    )
    assert SlotSet("name", None) in events
    assert texts(messages) == "Sorry, a name can't contain digits."


async def test_name_and_channels_are_cleaned():
    form = contact.ValidateContactForm()
    _, events = await run(
        form, tracker(loop="contact_form", slot_events=[("name", "my name is Jane Doe")])
    )
    assert SlotSet("name", "Jane Doe") in events
    _, events = await run(
        form, tracker(loop="contact_form", slot_events=[("marketing_channels", ["none"])])
    )
    assert SlotSet("marketing_channels", []) in events
    messages, events = await run(
        form, tracker(loop="contact_form", slot_events=[("marketing_channels", ["unclear"])])
    )
    assert SlotSet("marketing_channels", None) in events and "Which ones" in messages[0]["text"]


async def test_submit_contact_stores_details_consents_and_callback_lead(db):
    await consent_given()
    messages, _ = await run(
        contact.SubmitContact(),
        tracker(
            slots={
                "contact_purpose": "callback",
                "name": "Jane Doe",
                "email": "jane@example.com",
                "phone": "+14155550123",
                "marketing_channels": ["email", "sms"],
                "transactional_consent": True,
                "preferred_time": "after 5pm",
            }
        ),
    )
    assert "offers by email, SMS" in messages[0]["text"]
    assert "receipts and order updates by email and text" in messages[0]["text"]
    # Email offers typed in a web chat start a double opt-in: a link, nothing granted yet.
    assert "link to confirm" in messages[1]["text"]
    assert "call you back (after 5pm)" in messages[2]["text"]
    c = db.execute(select(Contact)).scalar_one()
    assert (c.name, c.email, c.phone_e164) == ("Jane Doe", "jane@example.com", "+14155550123")
    lead = db.execute(select(Lead)).scalar_one()
    assert (lead.kind, lead.preferred_time) == ("callback", "after 5pm")
    decisions = db.execute(
        select(ConsentEvent.purpose, ConsentEvent.channel, ConsentEvent.granted)
    ).all()
    assert ("marketing", "whatsapp", False) in decisions
    assert ("marketing", "sms", True) in decisions
    assert ("marketing", "email", True) not in decisions
    assert ("transactional", "email", True) in decisions
    link = db.execute(
        select(OutboxMessage).where(OutboxMessage.purpose == "verification")
    ).scalar_one()
    assert (link.kind, link.payload["template"]) == ("email", "confirm_subscription")
    assert ledger.verify(db).ok
    # marketing consent by email and SMS: a goal follow-up on each, due in three days
    goal = db.execute(
        select(FollowUp.channel, FollowUp.due_at).where(FollowUp.template == "follow_up_goal")
    ).all()
    assert sorted(channel for channel, _ in goal) == ["email", "sms"]
    for _, due_at in goal:
        days = (due_at.replace(tzinfo=None) - utcnow().replace(tzinfo=None)).total_seconds() / 86400
        assert 2.9 < days <= 3.0


@pytest.mark.parametrize(
    ("email", "phone", "question"),
    [
        ("jane@example.com", None, "May we email you receipts"),
        ("jane@example.com", "+14155550123", "May we email and text you receipts"),
        ("not-an-email", "+14155550123", "May we text you receipts"),
    ],
)
async def test_the_receipts_question_names_the_channels_given(db, email, phone, question):
    messages, _ = await run(
        contact.AskTransactionalConsent(),
        tracker(loop="contact_form", slots={"email": email, "phone": phone}),
    )
    assert messages[0]["text"].startswith(question)


WA_SENDER = "whatsapp:+14155550123"


async def test_in_a_whatsapp_chat_receipts_are_offered_there_and_a_yes_lets_them_go(db, settings):
    from backend.messaging import content, gate

    messages, _ = await run(
        contact.AskTransactionalConsent(),
        tracker(sender=WA_SENDER, loop="contact_form", slots={"email": "jane@example.com"}),
    )
    assert messages[0]["text"].startswith(
        "May we send you receipts and updates about your orders by email and here on WhatsApp?"
    )
    await consent_given(sender=WA_SENDER)
    messages, _ = await run(
        contact.SubmitContact(),
        tracker(
            sender=WA_SENDER,
            slots={
                "name": "Jane Doe",
                "email": "jane@example.com",
                "marketing_channels": [],
                "transactional_consent": True,
            },
        ),
    )
    assert "receipts and order updates by email and WhatsApp" in messages[0]["text"]
    c = db.execute(select(Contact)).scalar_one()
    assert c.phone_e164 == "+14155550123"  # the chat's number, for "here on WhatsApp"
    gate.record_inbound(db, sender_id=WA_SENDER)  # the customer wrote just now
    decision = gate.check(
        db,
        settings=settings,
        contact=c,
        channel="whatsapp",
        purpose=content.TRANSACTIONAL,
        template="free_text",
        context={"body": "Your order has shipped", "subject": None},
    )
    assert decision.outcome != gate.REFUSE, decision.reason


async def test_submit_never_stores_an_unvalidated_value(db):
    await consent_given()
    await run(
        contact.SubmitContact(),
        tracker(
            slots={
                "contact_purpose": "checkout",
                "name": "Jo",
                "email": "not-an-email",
                "phone": "123",
                "marketing_channels": ["sms"],
                "transactional_consent": False,
            }
        ),
    )
    c = db.execute(select(Contact)).scalar_one()
    assert c.email is None and c.phone_e164 is None
    channels = db.execute(
        select(ConsentEvent.channel).where(
            ConsentEvent.purpose == "marketing", ConsentEvent.granted.is_(True)
        )
    ).all()
    assert channels == []  # no SMS consent without a number
    assert db.execute(select(FollowUp)).scalars().all() == []  # and nothing to follow up on


async def test_correction_updates_the_stored_email(db):
    await consent_given()
    messages, events = await run(
        contact.UpdateContact(),
        tracker(
            text="actually my email is new@example.com",
            entities=[("email", "new@example.com")],
            slots={"privacy_consent": True},
        ),
    )
    assert "updated your email" in messages[0]["text"]
    assert SlotSet("email", "new@example.com") in events
    assert db.execute(select(Contact.email)).scalar_one() == "new@example.com"


async def test_email_volunteered_before_consent_is_not_stored(db):
    volunteered = tracker(
        text="my email is jane@example.com",
        entities=[("email", "jane@example.com")],
        slots={"privacy_consent": None},
    )
    messages, events = await run(contact.UpdateContact(), volunteered)
    assert messages == [] and events == []  # the privacy question that follows says so
    messages, _ = await run(consent.AskPrivacyConsent(), volunteered)
    assert "haven't saved" in messages[0]["text"]
    declined = tracker(
        text="my email is jane@example.com",
        entities=[("email", "jane@example.com")],
        slots={"privacy_consent": False},
    )
    messages, events = await run(contact.UpdateContact(), declined)
    assert "haven't saved" in messages[0]["text"] and events == []
    assert count(db, Contact) == 0


async def test_invalid_correction_changes_nothing(db):
    await consent_given()
    messages, _ = await run(
        contact.UpdateContact(),
        tracker(entities=[("phone", "12")], slots={"privacy_consent": True}),
    )
    assert "too short" in messages[0]["text"]
    assert db.execute(select(Contact.phone_e164)).scalar_one() is None


# --- checkout and order status ---------------------------------------------------------


async def test_checkout_form_resolves_product_and_checks_quantity():
    form = orders.ValidateCheckoutForm()
    _, events = await run(
        form, tracker(loop="checkout_form", slot_events=[("order_sku", "marine collagen")])
    )
    assert SlotSet("order_sku", "AA-002") in events
    messages, events = await run(
        form,
        tracker(
            loop="checkout_form", slots={"order_sku": "WL-004"}, slot_events=[("quantity", "10")]
        ),
    )
    assert SlotSet("quantity", None) in events and messages  # only 3 in stock
    _, events = await run(
        form,
        tracker(
            loop="checkout_form",
            slots={"order_sku": "AA-002"},
            slot_events=[("quantity", "two please")],
        ),
    )
    assert SlotSet("quantity", 2) in events


async def test_order_confirmation_shows_the_total():
    messages, _ = await run(
        orders.AskOrderConfirmed(),
        tracker(slots={"order_sku": "AA-002", "quantity": 2, "email": "jane@example.com"}),
    )
    assert (
        "2 × Marine Collagen Peptides" in messages[0]["text"] and "Total: $" in messages[0]["text"]
    )
    assert "jane@example.com" in messages[0]["text"]


async def test_place_order_gives_a_payment_link_and_never_asks_for_cards(db, backend):
    await consent_given()
    messages, events = await run(
        orders.PlaceOrder(),
        tracker(slots={"order_sku": "AA-002", "quantity": 1, "order_confirmed": True}),
    )
    assert "https://pay.test/" in messages[0]["text"]
    assert "never ask for card details" in messages[0]["text"]
    assert SlotSet("order_sku", None) in events and len(backend.checkouts) == 1
    order = db.execute(select(Order)).scalar_one()
    assert order.conversation_id == "t1" and order.contact_id is not None
    db.rollback()  # SQLite: release the read transaction before the next action writes
    messages, _ = await run(orders.OrderStatus(), tracker(intent="order_status"))
    assert order.public_id[:8] in messages[0]["text"]


async def test_cancelled_checkout_places_nothing(db):
    messages, _ = await run(
        orders.PlaceOrder(),
        tracker(slots={"order_sku": "AA-002", "quantity": 1, "order_confirmed": False}),
    )
    assert "haven't ordered" in messages[0]["text"] and count(db, Order) == 0


def test_quantity_parsing():
    assert [orders.parse_quantity(v) for v in ("3", "two", "a couple", "none")] == [3, 2, 2, None]


# --- safety ----------------------------------------------------------------------------


async def test_medical_advice_gets_disclaimer_flag_lead_and_human_offer(db):
    messages, _ = await run(
        safety.MedicalAdvice(),
        tracker(text="what dose should I take with my insulin", intent="ask_medical_advice"),
    )
    assert "not medical advice" in messages[0]["text"] and "$" not in messages[0]["text"]
    assert messages[0]["buttons"][0]["payload"] == "/request_human"
    assert db.execute(select(Conversation.sensitive)).scalar_one() is True
    assert db.execute(select(Lead.kind)).scalar_one() == "sensitive"


async def test_emergency_gets_guidance_only(db):
    messages, _ = await run(
        safety.Emergency(), tracker(text="my husband has chest pain", intent="report_emergency")
    )
    assert len(messages) == 1 and "911" in messages[0]["text"]
    assert db.execute(select(Lead.priority)).scalar_one() == "urgent"


async def test_emergency_intent_without_evidence_gets_no_script_and_no_urgent_lead(db):
    """action_emergency checks the evidence itself: the classifier alone is not enough."""
    text = (
        "Hi, I'm 45 and trying to get back in shape. I go to the gym twice a week but I'm tired "
        "all the time. What would you suggest?"
    )
    messages, _ = await run(safety.Emergency(), tracker(text=text, intent="report_emergency"))
    assert len(messages) == 1 and "911" not in messages[0]["text"]
    assert "not medical advice" in messages[0]["text"]
    assert db.execute(select(Lead.priority)).scalar_one() != "urgent"


@pytest.mark.parametrize(
    ("sender", "asks"), [("web-2f1c7a9e-5b3d-4c8e-9a71-0d4e6b2c8f13", True), ("t1", False)]
)
async def test_a_flagged_website_chat_lets_the_team_answer_in_its_window(db, sender, asks):
    messages, _ = await run(
        safety.Emergency(), tracker(sender=sender, text="chest pain", intent="report_emergency")
    )
    assert len(messages) == 1 and "911" in messages[0]["text"]  # still guidance only
    assert (messages[0]["custom"] == {"handoff": True}) is asks


async def test_safety_message_is_sent_even_if_the_database_fails(settings):
    def broken():
        raise RuntimeError("database down")

    backend_link.override(session_factory=broken)
    messages, _ = await run(safety.Emergency(), tracker(text="I can't breathe"))
    assert "911" in messages[0]["text"]


async def test_fallback_consults_the_safety_net_first(db):
    messages, _ = await run(
        safety.Fallback(), tracker(text="chest pain pls help", intent="nlu_fallback")
    )
    assert "911" in messages[0]["text"]


async def test_out_of_scope_twice_in_a_row_offers_a_person():
    def said(text, intent):
        return {"event": "user", "text": text, "parse_data": {"intent": {"name": intent}}}

    messages, _ = await run(safety.OutOfScope(), tracker(text="qwpoeiru", intent="out_of_scope"))
    assert "can't help with that" in messages[0]["text"] and not messages[0].get("buttons")
    for earlier in ("out_of_scope", "nlu_fallback"):
        messages, _ = await run(
            safety.OutOfScope(),
            tracker(text="zxcvbn", intent="out_of_scope", history=[said("asdfgh", earlier)]),
        )
        assert messages[0]["buttons"] == [
            {"title": "Talk to a person", "payload": "/request_human"}
        ]
    messages, _ = await run(
        safety.Fallback(),
        tracker(text="zxcvbn", intent="nlu_fallback", history=[said("asdf", "out_of_scope")]),
    )
    assert messages[0]["buttons"][0]["payload"] == "/request_human"
    # an understood turn in between starts the count again
    messages, _ = await run(
        safety.OutOfScope(),
        tracker(
            text="zxcvbn",
            intent="out_of_scope",
            history=[said("asdf", "out_of_scope"), said("hi", "greet")],
        ),
    )
    assert not messages[0].get("buttons")


async def test_fallback_rephrase_once_then_offer_a_person():
    first = {"event": "user", "text": "blorp", "parse_data": {"intent": {"name": "nlu_fallback"}}}
    messages, _ = await run(safety.Fallback(), tracker(text="blorp", intent="nlu_fallback"))
    assert "say it another way" in messages[0]["text"]
    messages, _ = await run(
        safety.Fallback(), tracker(text="zzz", intent="nlu_fallback", history=[first])
    )
    assert messages[0]["buttons"][0]["payload"] == "/request_human"


async def test_core_fallback_consults_the_safety_net_and_reverts_the_turn(db):
    messages, events = await run(
        safety.CoreFallback(), tracker(text="my chest hurts and my arm is numb", intent="inform")
    )
    assert "911" in messages[0]["text"]
    assert [e["event"] for e in events] == ["rewind"]


async def test_core_fallback_says_what_it_can_do_and_offers_a_person():
    messages, events = await run(safety.CoreFallback(), tracker(text="ok then", intent="affirm"))
    assert "not sure how to help" in messages[0]["text"]
    assert messages[0]["buttons"][0]["payload"] == "/request_human"
    assert [e["event"] for e in events] == ["rewind"]


# --- rights and handoff ----------------------------------------------------------------


async def test_opt_out_withdraws_every_channel(db):
    await consent_given()
    messages, events = await run(rights.OptOut(), tracker(intent="opt_out"))
    assert "email, SMS or WhatsApp" in messages[0]["text"]
    withdrawn = (
        db.execute(
            select(ConsentEvent.channel).where(
                ConsentEvent.purpose == "marketing", ConsentEvent.granted.is_(False)
            )
        )
        .scalars()
        .all()
    )
    assert sorted(withdrawn) == ["email", "sms", "whatsapp"]
    assert SlotSet("marketing_channels", []) in events


async def test_opt_out_without_contact_says_nothing_is_stored(db):
    messages, _ = await run(rights.OptOut(), tracker(intent="opt_out"))
    assert "no contact details" in messages[0]["text"] and count(db, ConsentEvent) == 0


async def test_delete_data_erases_and_queues_tracker_deletion(db):
    await consent_given()
    messages, events = await run(rights.DeleteData(), tracker(intent="request_data_deletion"))
    assert "erased" in messages[0]["text"] and AllSlotsReset() in events
    request = db.execute(select(DataSubjectRequest)).scalar_one()
    assert (request.kind, request.status, request.sender_id) == (
        "deletion",
        "pending_tracker",
        "t1",
    )
    assert db.execute(select(Contact.erased_at)).scalar_one() is not None


async def test_data_access_summarises_and_records_the_request(db):
    await consent_given()
    messages, _ = await run(rights.DataAccess(), tracker(intent="request_data_access"))
    assert "privacy / chat: yes" in messages[0]["text"]
    assert db.execute(select(DataSubjectRequest.kind)).scalar_one() == "access"


async def test_request_human_without_a_way_to_reach_them_says_so_and_offers_a_call_back(db):
    messages, _ = await run(rights.RequestHuman(), tracker(intent="request_human"))
    assert "no way to reach you yet" in messages[0]["text"]
    assert "will reply" not in messages[0]["text"]  # nothing promised that staff cannot keep
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/request_callback"]
    assert db.execute(select(Lead.kind)).scalar_one() == "handoff"  # the team still sees it


async def test_request_human_in_the_website_chat_promises_a_reply_in_its_window(db):
    web = "web-2f1c7a9e-5b3d-4c8e-9a71-0d4e6b2c8f13"
    messages, _ = await run(rights.RequestHuman(), tracker(sender=web, intent="request_human"))
    assert "reply here in this chat" in messages[0]["text"]
    assert "will wait here for you on this device" in messages[0]["text"]
    assert messages[0]["custom"] == {"handoff": True}  # the widget starts asking for replies
    assert db.execute(select(Lead.conversation_id)).scalar_one() == web


@pytest.mark.parametrize(
    "details, receipts, where",
    [
        ({"email": "jane@shop.test"}, ("email",), "reply by email"),
        ({"email": None}, ("sms",), "reply by text message"),
        ({"email": "jane@shop.test"}, (), None),  # an address but no consent to reply
    ],
)
async def test_request_human_says_where_the_reply_will_come(db, details, receipts, where):
    from tests.integration.messaging_support import make_contact

    make_contact(db, sender="t1", marketing=(), transactional=receipts, **details)
    db.commit()
    messages, _ = await run(rights.RequestHuman(), tracker(intent="request_human"))
    if where is None:
        assert "no way to reach you yet" in messages[0]["text"]
    else:
        assert where in messages[0]["text"] and not messages[0]["buttons"]
    db.expire_all()
    assert db.execute(select(Lead.contact_id)).scalar_one() is not None


async def test_backend_failure_becomes_a_polite_message():
    def broken():
        raise RuntimeError("database down")

    backend_link.override(session_factory=broken)
    messages, events = await run(rights.RequestHuman(), tracker(intent="request_human"))
    assert "something went wrong" in messages[0]["text"] and events == []
