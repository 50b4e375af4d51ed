"""A chat acts only on the contact that this conversation itself identified (DESIGN rule 8):
a website chat that asks for, erases or opts out "my data" never reaches the contact of a
WhatsApp chat, even when it types that customer's email and phone number."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.chat_ids import issue_chat_id
from backend.contacts import service
from backend.contacts.models import ConsentEvent, Contact

V = "2026-11"
WORDING = service.privacy_wording(policy_url="http://127.0.0.1:8000/privacy")
WHATSAPP = "whatsapp:+14155550123"
EMAIL, PHONE = "jane@example.org", "+14155550123"


def customer_on_whatsapp(session) -> Contact:
    """Jane, who accepted the policy and gave her details in her (Twilio-signed) WhatsApp chat."""
    service.record_privacy(
        session, sender_id=WHATSAPP, channel="whatsapp", granted=True, wording=WORDING, version=V
    )
    contact = service.save_contact_details(
        session,
        sender_id=WHATSAPP,
        details=service.ContactDetails(
            name="Jane Doe", email=EMAIL, phone_e164=PHONE, marketing_channels=("email", "sms")
        ),
        version=V,
    )
    session.flush()
    return contact


def events_of(session, contact_id: int) -> int:
    return len(
        session.execute(select(ConsentEvent.id).where(ConsentEvent.contact_id == contact_id)).all()
    )


def granted(session, contact_id: int) -> dict:
    return service.consent_state(session, contact_id=contact_id)


def test_a_website_chat_without_consent_sees_erases_and_opts_out_nothing(session):
    jane = customer_on_whatsapp(session)
    before = granted(session, jane.id)
    web = issue_chat_id(secret="chat-id-secret-for-tests").sender
    assert service.access_summary(session, sender_id=web).stored is False
    assert service.opt_out(session, sender_id=web, version=V) == 0
    assert service.erase(session, sender_id=web, version=V).contact_erased is False
    session.refresh(jane)
    assert (jane.name, jane.email, jane.phone_e164, jane.erased_at) == (
        "Jane Doe",
        EMAIL,
        PHONE,
        None,
    )
    assert granted(session, jane.id) == before


def test_typing_someone_elses_email_and_phone_in_a_website_chat_reads_and_erases_nothing(session):
    """A typed email/phone is a claim: it attaches the chat to the person (one person, one
    record), but showing or erasing the record needs a one-time code first."""
    jane = customer_on_whatsapp(session)
    before = granted(session, jane.id)
    web = issue_chat_id(secret="chat-id-secret-for-tests").sender
    service.record_privacy(
        session, sender_id=web, channel="rest", granted=True, wording=WORDING, version=V
    )
    claimed = service.save_contact_details(
        session,
        sender_id=web,
        details=service.ContactDetails(name="Mallory", email=EMAIL, phone_e164=PHONE),
        version=V,
    )
    assert claimed.id == jane.id  # attached to the person, not a second record
    with pytest.raises(service.ProofRequired):
        service.access_summary(session, sender_id=web)
    with pytest.raises(service.ProofRequired):
        service.erase(session, sender_id=web, version=V)
    session.refresh(jane)
    assert (jane.name, jane.email, jane.phone_e164, jane.erased_at) == (
        "Jane Doe",
        EMAIL,
        PHONE,
        None,
    )
    assert granted(session, jane.id) == before  # no consent granted by the claim
