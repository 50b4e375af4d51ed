"""One person, one record: two chats (web + WhatsApp) are one contact; STOP in either holds for
the person; export lists both chats; erasure leaves the email, phone and name nowhere: not in
any column of any table, not in the SQLite file or its WAL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text

from backend import ledger
from backend.contacts import identity, rights
from backend.contacts import service as contacts
from backend.contacts.models import Contact, Conversation
from backend.crm.models import CrmRecord
from backend.db import session_scope
from backend.messaging import service as messaging
from backend.messaging.models import FollowUp
from backend.orders import audit
from backend.orders.payments import FakePayments
from backend.outbox import queue as outbox
from backend.outbox.models import OutboxMessage
from backend.privacy.registry import scrub_storage
from backend.sales import service as sales
from backend.sales.models import ChatReply, Lead, LeadActivity
from tests.integration.messaging_support import make_settings
from tests.integration.orders_support import add_product
from tests.integration.training_support import ensure_events_table

V = "2026-11"
NAME = "Zoë Quibbleworth"
EMAIL_TYPED = "Zoe.Quibbleworth@Example.COM"
PHONE = "+14155550199"
WEB, WEB2, WA = "web-7f0c", "web-91aa", f"whatsapp:{PHONE}"
NEEDLES = ("quibbleworth", "4155550199", "zoe.quibbleworth@example")
WORDING = contacts.privacy_wording(policy_url="https://shop.test/privacy")


@pytest.fixture
def shop(db_url, session_factory):
    return make_settings(db_url, PSEUDONYM_KEY="a-test-pseudonym-key-of-some-length")


def accept(session, sender, channel="rest"):
    return contacts.record_privacy(
        session, sender_id=sender, channel=channel, granted=True, wording=WORDING, version=V
    )


def tracker_rows(session, sender, *texts):
    """Rows as Rasa's SQL tracker store writes them (its `events` table, same database)."""
    ensure_events_table(session)
    for said in texts:
        session.execute(
            text(
                "INSERT INTO events (sender_id, type_name, timestamp, data) "
                "VALUES (:s, 'user', 1.0, :d)"
            ),
            {"s": sender, "d": json.dumps({"event": "user", "text": said})},
        )


def person_with_two_chats(factory, settings):
    """Web chat: details, marketing, a callback lead, an order; WhatsApp chat: the same phone."""
    add_product(factory)
    with session_scope(factory) as s:
        accept(s, WEB)
        tracker_rows(s, WEB, f"I'm {NAME}, mail me at {EMAIL_TYPED} or call {PHONE}")
        sales.submit_contact(
            s,
            sender_id=WEB,
            version=V,
            details=contacts.ContactDetails(
                name=NAME,
                email=identity_email(EMAIL_TYPED),
                phone_e164=PHONE,
                marketing_channels=("email", "sms"),
                transactional=True,
            ),
            callback_time=f"after 5pm, ask for {NAME}",
        )
        sales.checkout_from_chat(
            s, settings=settings, payments=FakePayments(), sender_id=WEB, sku="DCP-1", quantity=1
        )
    with session_scope(factory) as s:
        accept(s, WA, channel="twilio")  # the signed number finds the person
        tracker_rows(s, WA, f"hi it's {NAME} again")
        contacts.record_interaction(s, sender_id=WA, kind="cta", detail={"said": NAME})
        lead = s.execute(select(Lead)).scalars().first()
        s.add(ChatReply(lead_id=lead.id, conversation_id=WEB, body=f"Hi {NAME}!"))
        s.add(LeadActivity(lead_id=lead.id, action="note", detail={"note": f"{NAME} {PHONE}"}))
    outbox.deliver_due(
        factory, settings, worker_id="t", now=datetime.now(timezone.utc) + timedelta(seconds=1)
    )  # CRM pushes land in the local CRM; the callback confirmation goes out
    with session_scope(factory) as s:
        contact = contacts.contact_for(s, sender_id=WEB)
        messaging.schedule_follow_up(
            s,
            contact=contact,
            channel="sms",
            template="follow_up_goal",
            due_at=datetime.now(timezone.utc) + timedelta(days=3),
        )
        return contact.id


def identity_email(typed):
    from backend.contacts.validation import check_email

    return check_email(typed).value


def count(session, model, *where):
    return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_same_email_in_two_chats_and_the_whatsapp_number_are_one_contact(session_factory, shop):
    contact_id = person_with_two_chats(session_factory, shop)
    with session_scope(session_factory) as s:
        accept(s, WEB2)
        contacts.save_contact_details(
            s,
            sender_id=WEB2,
            version=V,
            details=contacts.ContactDetails(email=identity_email("ZOE.quibbleworth@example.com")),
        )
    with session_scope(session_factory) as s:
        live = (
            s.execute(
                select(Contact).where(Contact.merged_into_id.is_(None), Contact.erased_at.is_(None))
            )
            .scalars()
            .all()
        )
        assert [c.id for c in live] == [contact_id]  # one person, one record
        chats = {c.sender_id for c in identity.conversations_of(s, contact_id=contact_id)}
        assert chats == {WEB, WEB2, WA}
        merged = s.execute(select(Contact).where(Contact.merged_into_id == contact_id)).scalar_one()
        assert merged.email is None and merged.email_key is None  # the chat's own record folded
        entry = ledger.latest_for(s, entity_type="contact", entity_id=live[0].public_id)
        assert entry.action == "merged"
        assert ledger.verify(s).ok
        # The unverified second web chat may not read the record; the signed WhatsApp chat may.
        assert not contacts.chat_may_act(s, sender_id=WEB2)
        assert contacts.chat_may_act(s, sender_id=WA)
        with pytest.raises(contacts.ProofRequired):
            contacts.access_summary(s, sender_id=WEB2)


@pytest.mark.parametrize("stop_in", [WEB, WA])
def test_stop_in_either_chat_holds_for_the_person_on_every_channel(session_factory, shop, stop_in):
    contact_id = person_with_two_chats(session_factory, shop)
    with session_scope(session_factory) as s:
        contact = s.get(Contact, contact_id)
        queued = messaging.queue_message(
            s,
            settings=shop,
            contact=contact,
            channel="email",
            template="follow_up_goal",
            purpose="marketing",
            context={},
            idempotency_key="promo-1",
        ).message
        assert queued.status == "pending"
        queued_id = queued.id
    with session_scope(session_factory) as s:
        assert contacts.opt_out(s, sender_id=stop_in, version=V) == 3
    with session_scope(session_factory) as s:
        state = contacts.consent_state(s, contact_id=contact_id)
        assert not any(state.get(("marketing", ch), False) for ch in ("email", "sms", "whatsapp"))
        assert (
            count(s, FollowUp, FollowUp.status == "scheduled", FollowUp.purpose == "marketing") == 0
        )
        assert s.get(OutboxMessage, queued_id).status == "blocked"
        events_before = count(s, ledger.LedgerEntry)
        contacts.opt_out(s, sender_id=stop_in, version=V)  # again: nothing new
        messaging.record_stop(s, settings=shop, phone=WA, channel="whatsapp")  # 21610 path
        assert count(s, ledger.LedgerEntry) == events_before + 1  # only whatsapp transactional


def test_export_lists_both_chats_consents_with_ledger_proofs_and_every_record(
    session_factory, shop
):
    contact_id = person_with_two_chats(session_factory, shop)
    with session_scope(session_factory) as s:
        data = rights.export(s, contact=s.get(Contact, contact_id))
        page = rights.export_html(data)
    assert {c["id"] for c in data["conversations"]} == {WEB, WA}
    assert data["contact"]["email"] == "Zoe.Quibbleworth@example.com"  # as given; key casefolded
    assert data["consents"] and all(c["ledger"]["entry_hash"] for c in data["consents"])
    for table in ("orders", "leads", "events", "interactions", "outbox_messages", "crm_records"):
        assert data["records"].get(table), table
    assert NAME in page and "<script" not in page


def all_values(engine):
    """Every value of every column of every table, read back through the inspector."""
    found = []
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            columns = [c["name"] for c in inspect(conn).get_columns(table)]
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):  # noqa: S608
                for column, value in zip(columns, row):
                    if isinstance(value, bytes):
                        value = value.decode("latin-1")
                    found.append((table, column, str(value).casefold()))
    return found


def test_erasure_leaves_no_email_phone_or_name_in_any_column_or_the_file(
    session_factory, engine, shop, db_url
):
    contact_id = person_with_two_chats(session_factory, shop)
    with session_scope(session_factory) as s:
        accept(s, WEB2)
        contacts.save_contact_details(
            s,
            sender_id=WEB2,
            version=V,
            details=contacts.ContactDetails(email=identity_email(EMAIL_TYPED), name=NAME),
        )
    before = [(t, c) for t, c, v in all_values(engine) if any(n in v for n in NAMES)]
    assert {t for t, _ in before} >= {"contacts", "events", "orders", "leads", "crm_records"}
    with session_scope(session_factory) as s:
        result = rights.erase(
            s, contact=s.get(Contact, contact_id), key=shop.pseudonym_key, version=V
        )
        assert result.contacts == 2 and result.conversations == 3
    scrub_storage(engine)
    outbox.deliver_due(  # the CRM delete goes out; nothing queued before may leak now
        session_factory, shop, worker_id="t", now=datetime.now(timezone.utc) + timedelta(hours=1)
    )
    scrub_storage(engine)

    leaks = [(t, c) for t, c, v in all_values(engine) if any(n in v for n in NAMES)]
    assert leaks == []
    path = Path(db_url.removeprefix("sqlite:///"))
    for file in (path, Path(f"{path}-wal")):
        if file.exists():
            raw = file.read_bytes().lower()
            hits = [n for n in NAMES if n.encode() in raw or n.encode("utf-16-le") in raw]
            assert hits == [], file.name

    with session_scope(session_factory) as s:
        assert ledger.verify(s).ok
        assert audit.verify_all(s).ok  # consent records still hash as their ledger entries
        assert count(s, FollowUp, FollowUp.status == "scheduled") == 0
        conversations = s.execute(select(Conversation.sender_id)).scalars().all()
        assert conversations and all(c.startswith("anon-") for c in conversations)
        assert s.execute(select(CrmRecord.operation)).scalars().all()[-1] == "erase"
        # Tax records stay: the order and its amounts, without the email.
        order = s.execute(text("SELECT email, total_minor FROM orders")).one()
        assert order.email is None and order.total_minor > 0


NAMES = (*NEEDLES, "zoë", "zoe")


@pytest.mark.postgres
def test_erasure_leaves_no_email_phone_or_name_in_any_column_on_postgres(
    pg_session_factory, pg_engine, pg_url
):
    settings = make_settings(pg_url, PSEUDONYM_KEY="a-test-pseudonym-key-of-some-length")
    contact_id = person_with_two_chats(pg_session_factory, settings)
    assert any(n in v for _, _, v in all_values(pg_engine) for n in NAMES)
    with session_scope(pg_session_factory) as s:
        assert contacts.opt_out(s, sender_id=WA, version=V) == 3
    with session_scope(pg_session_factory) as s:
        rights.erase(s, contact=s.get(Contact, contact_id), key=settings.pseudonym_key, version=V)
    leaks = [(t, c) for t, c, v in all_values(pg_engine) if any(n in v for n in NAMES)]
    assert leaks == []
    with session_scope(pg_session_factory) as s:
        assert ledger.verify(s).ok and audit.verify_all(s).ok
