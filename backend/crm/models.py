"""The local CRM's records (the outbox rows that push them live in backend/outbox)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Integer, String

from backend.db import Base, utcnow
from backend.outbox.models import OutboxMessage  # noqa: F401 - crm_records point at its rows


class CrmRecord(Base):
    """The local CRM (no HubSpot token): each push as it would have been sent.

    Erasure blanks `properties` of the contact's records; the rows stay as proof of what
    happened (operation, time) without the personal data.
    """

    __tablename__ = "crm_records"

    id = Column(Integer, primary_key=True)
    outbox_message_id = Column(Integer, ForeignKey("outbox_messages.id"), unique=True)
    contact_id = Column(Integer, ForeignKey("contacts.id"), index=True)
    operation = Column(String(20), nullable=False)  # upsert | erase
    topic = Column(String(60), nullable=False)
    properties = Column(JSON, nullable=False, default=dict)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
