"""Contacts, consent events, conversations and interactions."""

from __future__ import annotations

import uuid

from sqlalchemy import JSON, Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Text

from backend.db import Base, utcnow


class Contact(Base):
    __tablename__ = "contacts"

    id = Column(Integer, primary_key=True)
    public_id = Column(String(36), unique=True, nullable=False, default=lambda: str(uuid.uuid4()))
    name = Column(String(200))
    email = Column(String(320), index=True)
    phone_e164 = Column(String(20), index=True)
    # Only stored with explicit health-data consent (GDPR art. 9); never a diagnosis.
    wellness_goal = Column(String(40))
    timezone = Column(String(64))
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow)
    erased_at = Column(DateTime(timezone=True))
    # Identity (backend/contacts/identity.py): one live contact per normalised email / E.164
    # phone; a record found to be the same person points at the one it was merged into.
    email_key = Column(String(320), unique=True, index=True)
    phone_key = Column(String(20), unique=True, index=True)
    merged_into_id = Column(
        Integer, ForeignKey("contacts.id", name="fk_contacts_merged_into"), index=True
    )


class ConsentEvent(Base):
    """Append-only record of one consent decision (GDPR art. 7(1) proof)."""

    __tablename__ = "consent_events"
    # a contact's consent state (and the overview pipeline's "with consent"), and the overview
    # funnel's consent steps (distinct chats per purpose in a period), from the index alone
    __table_args__ = (
        Index("ix_consent_events_contact_purpose", "contact_id", "purpose", "granted"),
        Index("ix_consent_events_period", "purpose", "granted", "created_at", "conversation_id"),
        # a chat's consents; the funnel_chats triggers' latest row per chat and step
        Index("ix_consent_events_chat", "conversation_id", "purpose", "granted", "created_at"),
    )

    id = Column(Integer, primary_key=True)
    contact_id = Column(Integer, ForeignKey("contacts.id"), nullable=False)
    conversation_id = Column(String(128))
    purpose = Column(
        String(20), nullable=False
    )  # privacy | health_data | marketing | transactional
    channel = Column(String(20), nullable=False)  # chat | email | sms | whatsapp | all
    granted = Column(Boolean, nullable=False)
    wording = Column(Text, nullable=False)
    wording_version = Column(String(40), nullable=False)
    source = Column(
        String(40), nullable=False, default="chat"
    )  # chat | unsubscribe_link | sms_stop | api
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class Conversation(Base):
    __tablename__ = "conversations"

    id = Column(Integer, primary_key=True)
    sender_id = Column(String(128), unique=True, nullable=False)
    channel = Column(String(20), nullable=False, default="web")
    contact_id = Column(Integer, ForeignKey("contacts.id"), index=True)
    sensitive = Column(Boolean, nullable=False, default=False)
    # A person from the team has the chat: the bot answers only safety (sales/takeover.py).
    handed_off = Column(Boolean, nullable=False, default=False)
    hold_notice_at = Column(DateTime(timezone=True))  # "a person is on it" said this takeover
    # when the team last took or answered the chat: TAKEOVER_IDLE_MINUTES counts from here
    handed_off_at = Column(DateTime(timezone=True))
    last_inbound_at = Column(DateTime(timezone=True))  # WhatsApp 24-hour window
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)
    # When this chat proved it belongs to its contact (a one-time code; a signed WhatsApp
    # number proves itself). Unverified chats may add to a record, never read or erase it.
    verified_at = Column(DateTime(timezone=True))


class Interaction(Base):
    __tablename__ = "interactions"
    # the overview funnel's recommendation step
    __table_args__ = (Index("ix_interactions_period", "kind", "created_at", "conversation_id"),)

    id = Column(Integer, primary_key=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id"), nullable=False, index=True)
    kind = Column(
        String(40), nullable=False
    )  # recommendation | cta | sensitive_inquiry | emergency | ...
    detail = Column(JSON, nullable=False, default=dict)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class DataSubjectRequest(Base):
    __tablename__ = "data_subject_requests"

    id = Column(Integer, primary_key=True)
    contact_id = Column(Integer, ForeignKey("contacts.id"), index=True)
    kind = Column(String(20), nullable=False)  # access | deletion
    # open | pending_tracker | completed
    status = Column(String(20), nullable=False, default="open")
    note = Column(Text)
    # Chat sender whose Rasa tracker rows still need erasing; cleared once they are gone.
    sender_id = Column(String(128))
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    completed_at = Column(DateTime(timezone=True))


class IdentityCheck(Base):
    """A one-time code (or double opt-in link) sent to a contact's own email/phone.

    Only a keyed hash of the code is stored; the conversation is referenced by row id (WhatsApp
    sender ids are phone numbers).
    """

    __tablename__ = "identity_checks"

    id = Column(Integer, primary_key=True)
    public_id = Column(String(36), unique=True, nullable=False, default=lambda: str(uuid.uuid4()))
    contact_id = Column(Integer, ForeignKey("contacts.id"), nullable=False, index=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id"), index=True)
    purpose = Column(String(30), nullable=False)  # access | erasure | marketing_email
    channel = Column(String(20), nullable=False)  # email | sms
    code_hash = Column(String(64), nullable=False)
    attempts = Column(Integer, nullable=False, default=0)
    expires_at = Column(DateTime(timezone=True), nullable=False)
    confirmed_at = Column(DateTime(timezone=True))
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
