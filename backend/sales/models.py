"""Leads/handoffs for the sales team, their activity and the replies shown in web chats."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Text

from backend.db import Base, utcnow


class Lead(Base):
    __tablename__ = "leads"
    # routing counts each candidate's open leads (backend/sales/assignment.py); the overview's
    # leads per day and SLA series read the period's leads from the index alone
    __table_args__ = (
        Index("ix_leads_assigned_status", "assigned_to", "status"),
        Index("ix_leads_period", "created_at", "kind", "sla_due_at"),
    )

    id = Column(Integer, primary_key=True)
    contact_id = Column(Integer, ForeignKey("contacts.id"), index=True)
    conversation_id = Column(String(128), index=True)
    kind = Column(String(20), nullable=False)  # callback | handoff | sensitive | high_intent
    reason = Column(Text)
    goal = Column(String(40))
    priority = Column(String(10), nullable=False, default="normal")  # low | normal | high | urgent
    status = Column(
        String(20), nullable=False, default="new"
    )  # new | assigned | contacted | closed
    assigned_to = Column(Integer, ForeignKey("staff_users.id"))
    preferred_time = Column(String(100))
    sla_due_at = Column(DateTime(timezone=True))
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow)


class LeadActivity(Base):
    """One staff (or system) action on a lead: who, what, when; append-only history."""

    __tablename__ = "lead_activities"
    # each lead's first human reply (the overview's response-time series)
    __table_args__ = (
        Index("ix_lead_activities_first_reply", "to_status", "lead_id", "created_at"),
    )

    id = Column(Integer, primary_key=True)
    lead_id = Column(Integer, ForeignKey("leads.id"), nullable=False, index=True)
    actor_id = Column(Integer, ForeignKey("staff_users.id"))  # None: the system (SLA job)
    actor_role = Column(String(20))
    action = Column(String(20), nullable=False)  # assigned | contacted | closed | reopened | ...
    from_status = Column(String(20))
    to_status = Column(String(20))
    detail = Column(JSON, nullable=False, default=dict)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class ChatReply(Base):
    """A staff reply to a web chat, shown in that chat's window (the widget fetches it).

    Only the browser holding the chat's random id can fetch it; erasure deletes it.
    """

    __tablename__ = "chat_replies"

    id = Column(Integer, primary_key=True)
    lead_id = Column(Integer, ForeignKey("leads.id"), nullable=False, index=True)
    conversation_id = Column(String(128), nullable=False, index=True)
    staff_id = Column(Integer, ForeignKey("staff_users.id"))
    body = Column(Text, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    fetched_at = Column(DateTime(timezone=True))  # first shown in the chat window


class StaffCoverage(Base):
    """What one sales user covers for lead routing (backend/sales/assignment.py): wellness goals
    and regions (ISO country codes or IANA time zones); set by an admin. No row, or empty lists
    and `active` off, means the user takes no routed leads (they still work the shared queue)."""

    __tablename__ = "staff_coverage"

    staff_user_id = Column(Integer, ForeignKey("staff_users.id"), primary_key=True)
    goals = Column(JSON, nullable=False, default=list)
    regions = Column(JSON, nullable=False, default=list)
    active = Column(Boolean, nullable=False, default=True)
    last_routed_at = Column(DateTime(timezone=True))  # round robin: ties go to the oldest
    updated_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow)
