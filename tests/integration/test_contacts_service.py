"""Consent-first storage: contacts, consent events with ledger entries, withdrawal, erasure."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from backend import ledger
from backend.contacts import service
from backend.contacts.jobs import erase_chat_trackers, expire_unconsented_chats
from backend.contacts.models import (
    ConsentEvent,
    Contact,
    Conversation,
    DataSubjectRequest,
    Interaction,
)
from backend.contacts.records import consent_record
from backend.sales import service as sales
from backend.sales.models import Lead

V = "2026-11"
WORDING = service.privacy_wording(policy_url="http://127.0.0.1:8000/privacy")


def count(session, model) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def accept(session, sender="s1"):
    return service.record_privacy(
        session, sender_id=sender, channel="rest", granted=True, wording=WORDING, version=V
    )


def test_declining_privacy_before_any_consent_stores_nothing(session):
    result = service.record_privacy(
        session, sender_id="s1", channel="rest", granted=False, wording=WORDING, version=V
    )
    assert result is None
    for model in (Contact, ConsentEvent, Conversation, Interaction, ledger.LedgerEntry):
        assert count(session, model) == 0


def test_accepting_privacy_creates_contact_event_and_ledger_entry(session):
    contact = accept(session)
    event = session.execute(select(ConsentEvent)).scalar_one()
    assert (event.contact_id, event.purpose, event.channel, event.granted) == (
        contact.id,
        "privacy",
        "chat",
        True,
    )
    assert event.wording == WORDING and event.wording_version == V
    assert event.conversation_id == "s1"
    entry = ledger.latest_for(session, entity_type="consent", entity_id=event.id)
    assert entry.action == "granted"
    assert entry.record_hash == ledger.record_hash(consent_record(event))
    assert ledger.verify(session).ok
    assert service.find_conversation(session, sender_id="s1").contact_id == contact.id


def test_consent_record_hash_survives_a_reload(session_factory):
    from backend.db import session_scope

    with session_scope(session_factory) as s:
        accept(s)
    with session_scope(session_factory) as s:  # fresh objects: naive datetimes from SQLite
        event = s.execute(select(ConsentEvent)).scalar_one()
        entry = ledger.latest_for(s, entity_type="consent", entity_id=event.id)
        assert ledger.record_hash(consent_record(event)) == entry.record_hash


def test_other_consents_need_privacy_consent_first(session):
    with pytest.raises(service.ConsentRequired):
        service.record_consent(
            session,
            sender_id="s1",
            purpose="health_data",
            channel="chat",
            granted=True,
            wording=service.HEALTH_WORDING,
            version=V,
        )
    with pytest.raises(service.ConsentRequired):
        service.save_contact_details(
            session,
            sender_id="s1",
            details=service.ContactDetails(email="a@example.com"),
            version=V,
        )
    assert count(session, Contact) == 0


def test_contact_details_record_one_decision_per_channel(session):
    accept(session)
    details = service.ContactDetails(
        name="Jane",
        email="jane@example.com",
        phone_e164="+14155550123",
        marketing_channels=("email", "whatsapp"),
        transactional=True,
    )
    contact = service.save_contact_details(session, sender_id="s1", details=details, version=V)
    assert (contact.name, contact.email, contact.phone_e164) == (
        "Jane",
        "jane@example.com",
        "+14155550123",
    )
    state = service.consent_state(session, contact_id=contact.id)
    assert state[("marketing", "email")] and state[("marketing", "whatsapp")]
    assert state[("marketing", "sms")] is False
    # With an email and a phone, the receipts question covered both, and says so.
    assert state[("transactional", "email")] is True and state[("transactional", "sms")] is True
    wordings = session.execute(
        select(ConsentEvent.wording).where(ConsentEvent.purpose == "transactional")
    ).scalars()
    assert set(wordings) == {service.TRANSACTIONAL_WORDING_BOTH}
    # Same answers again: no duplicate events.
    before = count(session, ConsentEvent)
    service.save_contact_details(session, sender_id="s1", details=details, version=V)
    assert count(session, ConsentEvent) == before == 6
    assert ledger.verify(session).checked == 6


@pytest.mark.parametrize(
    ("email", "phone", "channels"),
    [
        ("jane@example.com", None, {"email"}),
        (None, "+14155550123", {"sms"}),
        ("jane@example.com", "+14155550123", {"email", "sms"}),
    ],
)
def test_a_yes_to_receipts_covers_the_channels_the_question_named(session, email, phone, channels):
    accept(session)
    details = service.ContactDetails(name="Jane", email=email, phone_e164=phone, transactional=True)
    service.save_contact_details(session, sender_id="s1", details=details, version=V)
    rows = session.execute(
        select(ConsentEvent.channel, ConsentEvent.wording).where(
            ConsentEvent.purpose == "transactional"
        )
    ).all()
    wording, named = service.transactional_question(email=bool(email), sms=bool(phone))
    assert {channel for channel, _ in rows} == channels == set(named)
    assert {w for _, w in rows} == {wording}


WA = "+14155550123"


@pytest.mark.parametrize(
    ("email", "answer", "channels", "phone"),
    [
        ("jane@example.com", True, {"email", "whatsapp"}, WA),
        (None, True, {"whatsapp"}, WA),
        ("jane@example.com", False, {"email", "whatsapp"}, None),  # a no stores no number
    ],
)
def test_in_a_whatsapp_chat_receipts_can_come_there(session, email, answer, channels, phone):
    service.record_privacy(
        session,
        sender_id=f"whatsapp:{WA}",
        channel="twilio",
        granted=True,
        wording=service.privacy_wording(policy_url="https://shop.test/privacy"),
        version=V,
    )
    details = service.ContactDetails(
        name="Jane", email=email, transactional=answer, whatsapp_e164=WA
    )
    contact = service.save_contact_details(
        session, sender_id=f"whatsapp:{WA}", details=details, version=V
    )
    assert contact.phone_e164 == phone  # "here on WhatsApp" needs the chat's number
    rows = session.execute(
        select(ConsentEvent.channel, ConsentEvent.wording, ConsentEvent.granted).where(
            ConsentEvent.purpose == "transactional"
        )
    ).all()
    assert {channel for channel, _, _ in rows} == channels
    assert {granted for _, _, granted in rows} == {answer}
    (wording,) = {w for _, w, _ in rows}
    assert "here on WhatsApp" in wording and ("by email" in wording) == bool(email)
    assert ledger.verify(session).ok


def test_whatsapp_numbers_come_only_from_whatsapp_sender_ids():
    assert service.whatsapp_number(f"whatsapp:{WA}") == WA
    assert service.whatsapp_number(WA) is None  # an SMS chat
    assert service.whatsapp_number("whatsapp:not-a-number") is None
    assert service.whatsapp_number("web-1234") is None


def test_goal_is_stored_only_with_health_consent(session):
    from backend.catalog.service import SAMPLE_CATALOG, load_catalog

    load_catalog(session, source=str(SAMPLE_CATALOG))
    contact = accept(session)
    rec = service.show_recommendations(session, sender_id="s1", goal="weight_loss")
    assert rec.products and contact.wellness_goal is None
    assert session.execute(select(Interaction.detail)).scalar_one() == {}
    service.record_consent(
        session,
        sender_id="s1",
        purpose="health_data",
        channel="chat",
        granted=True,
        wording=service.HEALTH_WORDING,
        version=V,
    )
    service.show_recommendations(session, sender_id="s1", goal="weight_loss")
    assert contact.wellness_goal == "weight_loss"
    # Withdrawing health-data consent removes the goal.
    service.record_consent(
        session,
        sender_id="s1",
        purpose="health_data",
        channel="chat",
        granted=False,
        wording=service.HEALTH_WORDING,
        version=V,
    )
    assert contact.wellness_goal is None


def test_changing_the_goal_changes_the_stored_goal_with_an_event_and_ledger_entry(session):
    from backend.catalog.service import SAMPLE_CATALOG, load_catalog

    load_catalog(session, source=str(SAMPLE_CATALOG))
    contact = accept(session)
    service.record_consent(
        session,
        sender_id="s1",
        purpose="health_data",
        channel="chat",
        granted=True,
        wording=service.HEALTH_WORDING,
        version=V,
    )
    entries_before = ledger.verify(session).checked
    service.show_recommendations(session, sender_id="s1", goal="weight_loss")
    assert ledger.verify(session).checked == entries_before  # a first goal is no change
    rec = service.show_recommendations(session, sender_id="s1", goal="diabetes")
    assert rec.goal == "diabetes" and contact.wellness_goal == "diabetes"
    change = session.execute(
        select(Interaction).where(Interaction.kind == "goal_changed")
    ).scalar_one()
    assert change.detail == {"from": "weight_loss", "to": "diabetes"}
    entry = ledger.latest_for(session, entity_type="wellness_goal", entity_id=change.id)
    assert entry is not None and entry.action == "changed"
    report = ledger.verify(session)
    assert report.ok and report.checked == entries_before + 1
    service.show_recommendations(session, sender_id="s1", goal="diabetes")  # same goal again
    assert ledger.verify(session).checked == entries_before + 1


def test_recommendations_without_privacy_consent_store_nothing(session):
    from backend.catalog.service import SAMPLE_CATALOG, load_catalog

    load_catalog(session, source=str(SAMPLE_CATALOG))
    service.show_recommendations(session, sender_id="anon", goal="diabetes")
    assert count(session, Conversation) == count(session, Interaction) == 0


def test_opt_out_withdraws_marketing_on_every_channel(session):
    contact = accept(session)
    service.save_contact_details(
        session,
        sender_id="s1",
        version=V,
        details=service.ContactDetails(marketing_channels=("email", "sms", "whatsapp")),
    )
    assert service.opt_out(session, sender_id="s1", version=V) == 3
    state = service.consent_state(session, contact_id=contact.id)
    assert not any(state[("marketing", c)] for c in ("email", "sms", "whatsapp"))
    withdrawn = (
        session.execute(
            select(ConsentEvent).where(
                ConsentEvent.granted.is_(False), ConsentEvent.source == "chat"
            )
        )
        .scalars()
        .all()
    )
    assert {e.channel for e in withdrawn} == {"email", "sms", "whatsapp"}
    assert ledger.verify(session).ok
    assert service.opt_out(session, sender_id="nobody", version=V) == 0


def test_stop_from_an_unlinked_whatsapp_number_opts_out_the_contact_with_that_number(session):
    contact = accept(session)
    service.save_contact_details(
        session,
        sender_id="s1",
        version=V,
        details=service.ContactDetails(
            phone_e164="+14155550123", marketing_channels=("sms", "whatsapp")
        ),
    )
    assert service.opt_out(session, sender_id="whatsapp:+14155550123", version=V) == 3
    state = service.consent_state(session, contact_id=contact.id)
    assert not state[("marketing", "whatsapp")] and not state[("marketing", "sms")]
    assert service.opt_out(session, sender_id="whatsapp:+14155550999", version=V) == 0


def _tracker_table(session):
    session.execute(
        text(
            "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255), "
            "type_name VARCHAR(255), timestamp FLOAT, data TEXT)"
        )
    )
    for sender in ("s1", "s1", "other"):
        session.execute(
            text(
                "INSERT INTO events (sender_id, type_name, timestamp, data) "
                "VALUES (:s, 'user', 1.0, '{\"text\": \"jane@example.com\"}')"
            ),
            {"s": sender},
        )


def test_erasure_blanks_personal_fields_withdraws_everything_and_deletes_tracker_rows(session):
    _tracker_table(session)
    contact = accept(session)
    service.save_contact_details(
        session,
        sender_id="s1",
        version=V,
        details=service.ContactDetails(
            name="Jane",
            email="jane@example.com",
            phone_e164="+14155550123",
            marketing_channels=("sms",),
            transactional=True,
        ),
    )
    sales.request_callback(session, sender_id="s1", preferred_time="after 5pm")
    result = service.erase(session, sender_id="s1", version=V)
    assert result.contact_erased and result.tracker_rows_deleted == 2
    assert (contact.name, contact.email, contact.phone_e164, contact.wellness_goal) == (None,) * 4
    assert contact.erased_at is not None
    state = service.consent_state(session, contact_id=contact.id)
    assert not any(state.values())
    remaining = session.execute(text("SELECT sender_id FROM events")).scalars().all()
    assert remaining == ["other"]
    lead = session.execute(select(Lead)).scalar_one()
    # The chat id becomes a keyed hash (a WhatsApp id is a phone number).
    assert lead.preferred_time is None and lead.conversation_id.startswith("anon-")
    assert count(session, Interaction) == 0
    assert service.find_conversation(session, sender_id="s1") is None  # pseudonymised
    request = session.execute(select(DataSubjectRequest)).scalar_one()
    assert (request.kind, request.status) == ("deletion", "completed")
    assert ledger.verify(session).ok
    assert service.contact_for(session, sender_id="s1") is None


def test_erasure_from_chat_defers_tracker_rows_to_the_job(session, settings):
    _tracker_table(session)
    accept(session)
    result = service.erase(session, sender_id="s1", version=V, defer_tracker=True)
    assert result.pending_tracker and result.tracker_rows_deleted == 0
    request = session.execute(select(DataSubjectRequest)).scalar_one()
    assert (request.status, request.sender_id) == ("pending_tracker", "s1")
    counts = erase_chat_trackers(session, settings)
    assert counts == {"requests": 1, "tracker_rows": 2}
    assert (request.status, request.sender_id) == ("completed", None)


def test_access_summary_lists_what_is_stored_and_records_the_request(session):
    accept(session)
    service.update_contact(session, sender_id="s1", email="jane@example.com")
    summary = service.access_summary(session, sender_id="s1")
    assert summary.stored and summary.email == "jane@example.com"
    assert summary.consents == {"privacy:chat": True}
    assert service.access_summary(session, sender_id="stranger").stored is False
    kinds = session.execute(select(DataSubjectRequest.kind)).scalars().all()
    assert kinds == ["access", "access"]


def test_flag_sensitive_marks_conversation_and_creates_one_lead(session):
    sales.flag_sensitive(session, sender_id="anon", kind="medical_advice")
    sales.flag_sensitive(session, sender_id="anon", kind="medical_advice")
    conversation = service.find_conversation(session, sender_id="anon")
    assert conversation.sensitive and conversation.contact_id is None
    lead = session.execute(select(Lead)).scalar_one()
    assert (lead.kind, lead.priority, lead.reason) == ("sensitive", "high", "sensitive inquiry")
    kinds = session.execute(select(Interaction.kind)).scalars().all()
    assert kinds == ["sensitive_inquiry", "sensitive_inquiry"]
    assert count(session, Contact) == 0


def test_handoff_marks_conversation_and_reuses_open_lead(session):
    first = sales.request_handoff(session, sender_id="s1", reason="asked")
    second = sales.request_handoff(session, sender_id="s1", reason="asked again")
    assert first.id == second.id and first.kind == "handoff" and first.sla_due_at is not None
    assert service.find_conversation(session, sender_id="s1").handed_off


def test_callback_needs_a_phone_number(session):
    accept(session)
    with pytest.raises(service.ConsentRequired):
        sales.request_callback(session, sender_id="s1", preferred_time="now")


def test_the_contact_form_says_what_it_stored(session):
    """SMS/WhatsApp marketing without a phone is not kept; the result says what was."""
    accept(session)
    stored = sales.submit_contact(
        session,
        sender_id="s1",
        details=service.ContactDetails(
            email="a@example.com", marketing_channels=("email", "sms"), transactional=True
        ),
        version=V,
    )
    assert stored.marketing_channels == ("email",)
    assert stored.receipt_channels == ("email",)
    assert stored.lead is None
    contact = service.contact_for(session, sender_id="s1")
    state = service.consent_state(session, contact_id=contact.id)
    assert state[("marketing", "email")] is True
    assert state.get(("marketing", "sms")) is not True


def test_access_summary_counts_the_contacts_orders(session):
    """Orders are counted by the orders area (registered in backend/bootstrap.py)."""
    from backend.orders.models import Order

    contact = accept(session)
    session.add_all(
        Order(contact_id=contact.id, currency="USD", subtotal_minor=100, total_minor=100)
        for _ in range(2)
    )
    session.add(Order(contact_id=None, currency="USD", subtotal_minor=5, total_minor=5))
    session.flush()
    assert service.access_summary(session, sender_id="s1").orders == 2


def _user_event(session, sender, data, *, type_name="user", timestamp=1.0):
    import json

    session.execute(
        text("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (:s, :t, :ts, :d)"),
        {"s": sender, "t": type_name, "ts": timestamp, "d": json.dumps(data)},
    )


def _stored(session, sender) -> str:
    rows = session.execute(
        text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender}
    ).scalars()
    return "\n".join(rows)


def test_declining_privacy_masks_contact_details_typed_before_in_the_tracker(session):
    _tracker_table(session)  # "s1", "s1", "other": {"text": "jane@example.com"}
    typed = "hi, my email is jane.doe@example.com and my cell is +1 415 555 0123"
    _user_event(
        session,
        "s1",
        {
            "event": "user",
            "text": typed,
            "parse_data": {
                "text": typed,
                "intent": {"name": "inform"},
                "entities": [
                    {"entity": "email", "value": "jane.doe@example.com"},
                    {"entity": "phone", "value": "+1 415 555 0123"},
                    {"entity": "goal", "value": "weight_loss"},
                ],
            },
        },
    )
    _user_event(session, "s1", {"event": "slot", "name": "email", "value": "j@example.com"},
                type_name="slot")  # fmt: skip
    assert (
        service.record_privacy(
            session, sender_id="s1", channel="rest", granted=False, wording=WORDING, version=V
        )
        is None
    )
    stored = _stored(session, "s1")
    for secret in ("jane.doe@example.com", "415 555 0123", "jane@example.com", "j@example.com"):
        assert secret not in stored
    assert "hi, my email is <email> and my cell is <phone>" in stored
    assert '"value": "weight_loss"' in stored  # not personal: kept
    assert "jane@example.com" in _stored(session, "other")  # another chat is untouched
    assert count(session, Contact) == count(session, ConsentEvent) == 0


def test_chats_without_consent_expire_after_the_retention_period(session, settings):
    from datetime import timedelta

    from backend.db import utcnow

    _tracker_table(session)
    now = utcnow()
    old, recent = (now - timedelta(hours=100)).timestamp(), (now - timedelta(hours=1)).timestamp()
    for sender, at in [("anon-old", old), ("anon-new", recent), ("lead-old", old), ("s1", old)]:
        _user_event(session, sender, {"event": "user", "text": "hello"}, timestamp=at)
    accept(session, sender="s1")  # consented: kept under the contact's own rules
    session.add(Lead(conversation_id="lead-old", kind="handoff", priority="normal"))
    session.flush()
    assert settings.unconsented_chat_retention_hours == 72
    counts = expire_unconsented_chats(session, settings)
    senders = set(session.execute(text("SELECT sender_id FROM events")).scalars())
    # "other" only has rows from 1970 (timestamp 1.0): long expired
    assert senders == {"anon-new", "lead-old", "s1"}
    assert counts == {"conversations": 2, "tracker_rows": 2}
