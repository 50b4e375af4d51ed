"""Transactional outbox: every outside call is first a row written with its cause."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Integer, String, Text

from backend.db import Base, utcnow


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"

    id = Column(Integer, primary_key=True)
    kind = Column(String(20), nullable=False, index=True)  # crm | email | sms | whatsapp | alert
    topic = Column(String(60), nullable=False)  # lead_captured, receipt_issued, follow_up, ...
    purpose = Column(String(20), nullable=False, default="transactional")
    contact_id = Column(Integer, index=True)
    recipient = Column(String(320))
    payload = Column(JSON, nullable=False, default=dict)
    idempotency_key = Column(String(200), unique=True, nullable=False)
    status = Column(
        String(20), nullable=False, default="pending", index=True
    )  # pending|sending|sent|blocked|dead
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)
    claimed_by = Column(String(100))
    claimed_until = Column(DateTime(timezone=True))
    last_error = Column(Text)
    provider_ref = Column(String(200))
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    sent_at = Column(DateTime(timezone=True))
