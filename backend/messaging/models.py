"""Scheduled follow-ups (sent through the outbox and the one send gate)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Integer, String

from backend.db import Base, utcnow


class FollowUp(Base):
    __tablename__ = "follow_ups"

    id = Column(Integer, primary_key=True)
    contact_id = Column(Integer, ForeignKey("contacts.id"), nullable=False, index=True)
    order_id = Column(Integer, ForeignKey("orders.id"))
    channel = Column(String(20), nullable=False)
    template = Column(String(60), nullable=False)
    purpose = Column(String(20), nullable=False, default="marketing")
    due_at = Column(DateTime(timezone=True), nullable=False, index=True)
    status = Column(
        String(20), nullable=False, default="scheduled"
    )  # scheduled | queued | cancelled
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
