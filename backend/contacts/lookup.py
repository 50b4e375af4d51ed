"""Finding a chat's conversation and contact: the lookups other areas may use."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.contacts.models import Contact, Conversation


def find_conversation(session: Session, *, sender_id: str) -> Conversation | None:
    return session.execute(
        select(Conversation).where(Conversation.sender_id == sender_id)
    ).scalar_one_or_none()


def contact_for(session: Session, *, sender_id: str) -> Contact | None:
    """The consenting contact of this chat, or None (no privacy consent yet / erased)."""
    conversation = find_conversation(session, sender_id=sender_id)
    if conversation is None or conversation.contact_id is None:
        return None
    contact = session.get(Contact, conversation.contact_id)
    if contact is None or contact.erased_at is not None:
        return None
    return contact


def find_contact(session: Session, *, email: str | None = None, phone_e164: str | None = None):
    """The person (live contact) with this email or phone, for staff tools and STOP reports."""
    from backend.contacts import identity

    contact = identity.find_person(session, email=email, phone=phone_e164)
    if contact is not None or not (email or phone_e164):
        return contact
    # Records from before identity keys (until `backend contacts merge-duplicates` ran).
    query = select(Contact).where(Contact.erased_at.is_(None), Contact.merged_into_id.is_(None))
    if email:
        query = query.where(func.lower(Contact.email) == email.strip().lower())
    else:
        query = query.where(Contact.phone_e164 == phone_e164)
    return session.execute(query.order_by(Contact.id.desc()).limit(1)).scalar_one_or_none()


def sender_for_contact(session: Session, *, contact_id: int) -> str | None:
    return session.execute(
        select(Conversation.sender_id).where(Conversation.contact_id == contact_id).limit(1)
    ).scalar_one_or_none()


def first_name(contact: Contact) -> str | None:
    """The first word of the contact's name, for greetings (None without a name)."""
    return (contact.name or "").split()[0] if (contact.name or "").strip() else None
