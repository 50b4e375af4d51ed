"""Transactional outbox: every outside call is first a row written with its cause."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Float, Index, Integer, String, Text, text

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
    blanked_at = Column(DateTime(timezone=True))  # retention: payload and recipient removed

    __table_args__ = (
        # The claim query's rows: small however long the sent history grows.
        Index(
            "ix_outbox_messages_due",
            "kind",
            "next_attempt_at",
            postgresql_where=text("status IN ('pending', 'sending')"),
            sqlite_where=text("status IN ('pending', 'sending')"),
        ),
    )


class OutboxCircuit(Base):
    """A provider's circuit breaker, shared by every worker (backend/outbox/circuit.py)."""

    __tablename__ = "outbox_circuits"

    provider = Column(String(40), primary_key=True)
    failures = Column(Integer, nullable=False, default=0)  # consecutive temporary failures
    open_until = Column(DateTime(timezone=True))  # set: open until then, half-open after
    updated_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class OutboxRateBucket(Base):
    """A provider's delivery rate, shared by every worker (backend/outbox/ratelimit.py)."""

    __tablename__ = "outbox_rate_buckets"

    provider = Column(String(40), primary_key=True)
    # the theoretical arrival time of the next request (Unix seconds): a token bucket kept as
    # one number (GCRA), so a reservation is one row update
    next_slot = Column(Float, nullable=False, default=0.0)
