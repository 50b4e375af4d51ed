"""Proof before data: a chat that only claimed an email gets a one-time code (sent to the
record's own address) before it sees or erases anything; email offers asked for in a web chat
start with a double opt-in link."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions import backend_link, rights
from backend.contacts import service as contacts
from backend.contacts import verification
from backend.contacts.models import ConsentEvent, Contact, IdentityCheck
from backend.db import session_scope
from backend.outbox.models import OutboxMessage
from tests.integration.messaging_support import make_settings

DOMAIN = yaml.safe_load((Path(__file__).resolve().parents[2] / "domain.yml").read_text())
V = "2026-11"
OWNER, CLAIMANT = "web-owner", "web-claimant"
EMAIL = "jane@example.com"


@pytest.fixture
def shop(db_url, session_factory):
    settings = make_settings(db_url, PSEUDONYM_KEY="a-test-pseudonym-key-of-some-length")
    backend_link.override(settings=settings, session_factory=session_factory, payments=None)
    yield settings
    backend_link.reset()


def chat_with_email(factory, sender, *, name=None):
    with session_scope(factory) as s:
        contacts.record_privacy(
            s, sender_id=sender, channel="rest", granted=True, wording="w", version=V
        )
        contacts.save_contact_details(
            s,
            sender_id=sender,
            version=V,
            details=contacts.ContactDetails(name=name, email=EMAIL, phone_e164="+14155550123"),
        )


TURNS = itertools.count(1)


def tracker(sender, text="", intent="inform"):
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": []}
    events = [
        {"event": "session_started", "timestamp": float(next(TURNS))},  # each call: a new turn
        {"event": "user", "text": text, "parse_data": latest, "input_channel": "rest"},
    ]
    return Tracker(sender, {}, latest, events, False, None, {}, "action_listen")


async def say(action, sender, text="", intent="inform") -> str:
    dispatcher = CollectingDispatcher()
    await action.run(dispatcher, tracker(sender, text, intent), DOMAIN)
    return "\n".join(m.get("text") or "" for m in dispatcher.messages)


def sent_code(factory) -> tuple[str, str]:
    with session_scope(factory) as s:
        message = (
            s.execute(
                select(OutboxMessage)
                .where(OutboxMessage.purpose == "verification")
                .order_by(OutboxMessage.id.desc())
            )
            .scalars()
            .first()
        )
        return message.payload["context"]["code"], message.payload["preview"]["body"]


async def test_a_claimed_email_sees_nothing_until_the_code_sent_to_the_record_is_typed(
    session_factory, shop
):
    chat_with_email(session_factory, OWNER, name="Jane Doe")
    chat_with_email(session_factory, CLAIMANT, name="Mallory")  # claims Jane's email
    with session_scope(session_factory) as s:
        jane = s.execute(select(Contact).where(Contact.email_key == EMAIL)).scalar_one()
        assert jane.name == "Jane Doe"  # the claim filled no blanks it did not own, changed nothing

    shown = await say(rights.DataAccess(), CLAIMANT, intent="request_data_access")
    assert "sent a 6-digit code by email to j•••@example.com" in shown
    assert "Jane" not in shown and EMAIL not in shown
    code, body = sent_code(session_factory)
    assert code in body  # the email to the record's own address carries it

    wrong = await say(rights.ConfirmCode(), CLAIMANT, text="000000", intent="enter_code")
    assert "not right" in wrong and "Jane" not in wrong
    with session_scope(session_factory) as s:
        assert s.execute(select(IdentityCheck.attempts)).scalar_one() == 1  # the try counted
        assert s.execute(select(IdentityCheck.code_hash)).scalar_one() != code  # hash only

    shown = await say(
        rights.ConfirmCode(), CLAIMANT, text=f"my code is {code}", intent="enter_code"
    )
    assert "Name: Jane Doe" in shown and EMAIL in shown
    again = await say(rights.DataAccess(), CLAIMANT, intent="request_data_access")
    assert "Name: Jane Doe" in again  # the chat stays verified

    # The full copy behind the hour-long link lists both chats (HTML and JSON).
    from backend.api.app import create_app

    link = next(w for w in again.split() if "/my-data/" in w)
    client = TestClient(create_app(settings=shop, session_factory=session_factory))
    path = link.removeprefix(shop.public_base_url)
    page = client.get(path)
    assert page.status_code == 200 and "Jane Doe" in page.text
    data = client.get(path, params={"format": "json"}).json()
    assert {c["id"] for c in data["conversations"]} == {OWNER, CLAIMANT}
    assert client.get(path[:-4] + "abcd").status_code == 404


async def test_erasure_from_an_unproved_chat_waits_for_the_code(session_factory, shop):
    chat_with_email(session_factory, OWNER)
    chat_with_email(session_factory, CLAIMANT)
    asked = await say(rights.DeleteData(), CLAIMANT, intent="request_data_deletion")
    assert "6-digit code" in asked
    with session_scope(session_factory) as s:
        assert s.execute(select(Contact).where(Contact.email_key == EMAIL)).scalar_one()
    code, _ = sent_code(session_factory)
    done = await say(rights.ConfirmCode(), CLAIMANT, text=code, intent="enter_code")
    assert "erased" in done
    with session_scope(session_factory) as s:
        assert s.execute(select(Contact).where(Contact.email.is_not(None))).first() is None


async def test_the_chat_that_gave_the_details_needs_no_code(session_factory, shop):
    chat_with_email(session_factory, OWNER, name="Jane Doe")
    shown = await say(rights.DataAccess(), OWNER, intent="request_data_access")
    assert "Name: Jane Doe" in shown


def test_double_opt_in_grants_email_marketing_only_when_the_link_is_followed(session_factory, shop):
    from backend.api.app import create_app
    from backend.messaging.privacy import verification_sender

    chat_with_email(session_factory, OWNER)
    with session_scope(session_factory) as s:
        hook = verification.DoubleOptIn(
            s,
            key=shop.pseudonym_key,
            base_url=shop.public_base_url,
            send=verification_sender(s, settings=shop),
        )
        contacts.save_contact_details(
            s,
            sender_id=OWNER,
            version=V,
            details=contacts.ContactDetails(email=EMAIL, marketing_channels=("email",)),
            confirm_email=hook,
        )
        assert hook.started
    with session_scope(session_factory) as s:
        granted = select(ConsentEvent).where(
            ConsentEvent.purpose == "marketing",
            ConsentEvent.channel == "email",
            ConsentEvent.granted.is_(True),
        )
        assert s.execute(granted).first() is None
        message = s.execute(
            select(OutboxMessage).where(OutboxMessage.purpose == "verification")
        ).scalar_one()
        url = message.payload["context"]["confirm_url"]
    path = url.removeprefix(shop.public_base_url)
    client = TestClient(create_app(settings=shop, session_factory=session_factory))
    assert client.get(path).status_code == 200  # a link scanner's GET confirms nothing
    with session_scope(session_factory) as s:
        assert s.execute(granted).first() is None
    assert client.post(path).status_code == 200
    assert client.post(path).status_code == 200  # twice: still one consent
    assert client.post(path[:-3] + "xyz").status_code == 400
    with session_scope(session_factory) as s:
        events = s.execute(granted).scalars().all()
        assert [e.source for e in events] == ["double_opt_in"]


def staff_client(factory, settings, role):
    from backend.api.app import create_app
    from backend.auth import service as auth

    with session_scope(factory) as s:
        staff = auth.create_staff(
            s, email=f"{role}@example.com", name=role, role=role, password="a-long-password-1"
        )
        key = auth.issue_api_key(s, staff_id=staff.id)
    client = TestClient(create_app(settings=settings, session_factory=factory))
    client.headers["Authorization"] = f"Bearer {key}"
    return client


def test_admin_api_exports_withdraws_and_erases_the_person_for_compliance_only(
    session_factory, shop
):
    from backend.auth.models import AccessLog

    chat_with_email(session_factory, OWNER, name="Jane Doe")
    chat_with_email(session_factory, CLAIMANT)
    sales = staff_client(session_factory, shop, "sales")
    assert sales.get("/api/admin/contacts/export", params={"email": EMAIL}).status_code == 403
    client = staff_client(session_factory, shop, "compliance")
    data = client.get("/api/admin/contacts/export", params={"email": "JANE@Example.com"}).json()
    assert data["contact"]["name"] == "Jane Doe"
    assert {c["id"] for c in data["conversations"]} == {OWNER, CLAIMANT}
    page = client.get("/api/admin/contacts/export", params={"phone": "+1 415 555 0123",
                                                             "format": "html"})  # fmt: skip
    assert page.status_code == 200 and "Jane Doe" in page.text
    assert client.get("/api/admin/contacts/export", params={"email": "nope"}).status_code == 400
    body = {"email": EMAIL, "purpose": "marketing", "channels": ["email", "sms"]}
    first = client.post("/api/admin/contacts/withdraw", json=body).json()
    assert client.post("/api/admin/contacts/withdraw", json=body).json() == {"withdrawn": []}
    assert sorted(first["withdrawn"]) in ([], ["email", "sms"])  # none granted: none recorded
    erased = client.post("/api/admin/contacts/erase", json={"email": EMAIL}).json()
    assert erased["records"] == 2 and erased["conversations"] == 2
    assert client.post("/api/admin/contacts/erase", json={"email": EMAIL}).status_code == 404
    with session_scope(session_factory) as s:
        actions = s.execute(select(AccessLog.action)).scalars().all()
        assert {"export_contact", "erase_contact"} <= set(actions)


async def test_a_claim_cannot_add_its_own_phone_to_the_record_and_then_prove_it(
    session_factory, shop
):
    """Typing someone's email plus one's own number must not let that number's WhatsApp chat
    read the record later, nor sign the person up for anything."""
    with session_scope(session_factory) as s:
        contacts.record_privacy(
            s, sender_id=OWNER, channel="rest", granted=True, wording="w", version=V
        )
        contacts.save_contact_details(
            s, sender_id=OWNER, version=V, details=contacts.ContactDetails(name="Jane", email=EMAIL)
        )
        contacts.record_privacy(
            s, sender_id=CLAIMANT, channel="rest", granted=True, wording="w", version=V
        )
        contacts.save_contact_details(
            s,
            sender_id=CLAIMANT,
            version=V,
            details=contacts.ContactDetails(
                email=EMAIL,
                phone_e164="+14155550777",
                marketing_channels=("sms", "whatsapp"),
                transactional=True,
            ),
        )
        contacts.update_contact(s, sender_id=CLAIMANT, phone_e164="+14155550777")
    with session_scope(session_factory) as s:
        jane = s.execute(select(Contact).where(Contact.email_key == EMAIL)).scalar_one()
        assert (jane.name, jane.phone_e164) == ("Jane", None)
        granted = s.execute(
            select(ConsentEvent.purpose, ConsentEvent.channel).where(
                ConsentEvent.contact_id == jane.id, ConsentEvent.granted.is_(True)
            )
        ).all()
        assert granted == [("privacy", "chat")]
    attacker = "whatsapp:+14155550777"
    with session_scope(session_factory) as s:
        contacts.record_privacy(
            s, sender_id=attacker, channel="twilio", granted=True, wording="w", version=V
        )
    shown = await say(rights.DataAccess(), attacker, intent="request_data_access")
    assert "Jane" not in shown and EMAIL not in shown
