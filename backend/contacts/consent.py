"""The one owner of consent: decisions recorded (with their ledger entry) and read here.

`add_consent_event` appends a ConsentEvent; `consent_state` reads the latest decision per
(purpose, channel).
Events are append-only and read in order (created_at, id); the last decision for a purpose and
channel wins. Consent is given and withdrawn channel by channel: there is no wildcard channel.
Every area that asks "may we?" (the send gate, CRM pushes, leads) reads it here.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import ledger
from backend.contacts.models import ConsentEvent, Contact, Conversation
from backend.contacts.records import consent_record
from backend.db import utcnow

PRIVACY, HEALTH, MARKETING, TRANSACTIONAL = "privacy", "health_data", "marketing", "transactional"
PURPOSES = (PRIVACY, HEALTH, MARKETING, TRANSACTIONAL)
CHAT = "chat"  # privacy and health-data consent are given in the chat
CHANNELS = ("email", "sms", "whatsapp")  # the channels messages go out on: the one list
MARKETING_CHANNELS = CHANNELS  # marketing consent is asked for on each of them


def consent_state(session: Session, *, contact_id: int) -> dict[tuple[str, str], bool]:
    """Latest decision per (purpose, channel); events are append-only so the last one wins."""
    rows = session.execute(
        select(ConsentEvent.purpose, ConsentEvent.channel, ConsentEvent.granted)
        .where(ConsentEvent.contact_id == contact_id)
        .order_by(ConsentEvent.created_at, ConsentEvent.id)
    ).all()
    return {(purpose, channel): bool(granted) for purpose, channel, granted in rows}


def current_consent(
    session: Session, *, contact_id: int, purpose: str, channel: str = CHAT
) -> bool | None:
    """True / False / None (never decided) for one purpose and channel now."""
    return consent_state(session, contact_id=contact_id).get((purpose, channel))


def has_consent(session: Session, *, contact_id: int, purpose: str, channel: str = CHAT) -> bool:
    return bool(current_consent(session, contact_id=contact_id, purpose=purpose, channel=channel))


def privacy_accepted_chats(session: Session, *, sender_ids: Iterable[str]) -> set[str]:
    """Of these chats, the ones whose person (live, not erased) last accepted the privacy policy
    (one query, for lists such as the training review queue)."""
    ids = sorted(set(sender_ids))
    if not ids:
        return set()
    rows = session.execute(
        select(Conversation.sender_id, ConsentEvent.granted)
        .join(Contact, Contact.id == Conversation.contact_id)
        .join(ConsentEvent, ConsentEvent.contact_id == Contact.id)
        .where(
            Conversation.sender_id.in_(ids),
            Contact.erased_at.is_(None),
            ConsentEvent.purpose == PRIVACY,
            ConsentEvent.channel == CHAT,
        )
        .order_by(ConsentEvent.created_at, ConsentEvent.id)
    ).all()
    latest = {sender: bool(granted) for sender, granted in rows}  # the last decision wins
    return {sender for sender, granted in latest.items() if granted}


def add_consent_event(
    session: Session,
    *,
    contact: Contact,
    purpose: str,
    channel: str,
    granted: bool,
    wording: str,
    version: str,
    conversation_id: str | None = None,
    source: str = "chat",
) -> ConsentEvent:
    """One consent decision and its ledger entry, in the caller's transaction."""
    event = ConsentEvent(
        contact_id=contact.id,
        conversation_id=conversation_id,
        purpose=purpose,
        channel=channel,
        granted=granted,
        wording=wording,
        wording_version=version,
        source=source,
        created_at=utcnow(),
    )
    session.add(event)
    session.flush()
    ledger.append(
        session,
        entity_type="consent",
        entity_id=event.id,
        action="granted" if granted else "withdrawn",
        record=consent_record(event),
    )
    return event
