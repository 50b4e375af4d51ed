"""The review queue (messages found in Rasa's tracker events), the trainers' labels, the scan's
place in the events table. Only masked text is stored (emails and phone numbers replaced)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)

from backend.db import Base, utcnow


class ReviewItem(Base):
    """One customer message worth a look, with why (reasons) and how much (score)."""

    __tablename__ = "training_items"
    __table_args__ = (
        UniqueConstraint("conversation_id", "message_id", name="uq_training_items_msg"),
    )

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(128), nullable=False, index=True)  # Rasa's sender id
    message_id = Column(String(64), nullable=False)  # Rasa's id of the user message
    event_id = Column(Integer, nullable=False)  # its row in Rasa's events table
    text = Column(Text, nullable=False)  # masked
    predicted_intent = Column(String(80))
    confidence = Column(Float, nullable=False, default=0.0)
    entities = Column(JSON, nullable=False, default=list)  # [{entity, value, text}], masked
    bot_answer = Column(Text, nullable=False, default="")  # masked
    reasons = Column(JSON, nullable=False, default=list)
    score = Column(Integer, nullable=False, default=0, index=True)
    said_at = Column(DateTime(timezone=True), nullable=False)
    found_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class ReviewLabel(Base):
    """A trainer's decision on an item (append-only: the newest one counts)."""

    __tablename__ = "training_labels"

    id = Column(Integer, primary_key=True)
    item_id = Column(Integer, ForeignKey("training_items.id"), nullable=False, index=True)
    conversation_id = Column(String(128), nullable=False, index=True)  # erasure finds it by chat
    verdict = Column(String(20), nullable=False)  # confirmed | corrected | not_useful | wrong_turn
    intent = Column(String(80))
    entities = Column(JSON, nullable=False, default=list)  # [{entity, value, text}]
    expected_action = Column(String(80))  # wrong_turn: what the bot should have done
    staff_id = Column(Integer, ForeignKey("staff_users.id"), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class ReviewScan(Base):
    """How far the scan has read Rasa's events table (one row per scan)."""

    __tablename__ = "training_scans"

    id = Column(Integer, primary_key=True)
    last_event_id = Column(Integer, nullable=False)
    conversations = Column(Integer, nullable=False, default=0)
    items = Column(Integer, nullable=False, default=0)
    ran_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
