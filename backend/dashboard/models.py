"""Tables the dashboards keep for themselves."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, String

from backend.db import Base


class FunnelChat(Base):
    """Each chat's latest row for a funnel step (consent, goal, checkout, paid).

    Written only by database triggers on consent_events and orders (dashboard_0003), in the
    transaction that writes the row, so it is never behind. A chat reached a step in a period
    exactly when its latest row is in the period, or is later and an earlier one is in it: the
    funnel counts an index range here instead of COUNT(DISTINCT) over the period's rows.
    """

    __tablename__ = "funnel_chats"
    __table_args__ = (Index("ix_funnel_chats_step_last", "step", "last_at"),)

    step = Column(String(20), primary_key=True)
    conversation_id = Column(String(128), primary_key=True)
    last_at = Column(DateTime(timezone=True), nullable=False)
