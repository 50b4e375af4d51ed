"""One team alert per (kind, entity): what the team was told, and on which channels."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Integer, String, UniqueConstraint

from backend.db import Base, utcnow


class TeamAlert(Base):
    """An alert for the team. Holds no customer data: the kind, a priority, the entity it is
    about (by id) and a dashboard link. The unique key makes it one alert per lead per kind."""

    __tablename__ = "team_alerts"
    __table_args__ = (
        UniqueConstraint("kind", "entity_type", "entity_id", name="uq_team_alerts_kind_entity"),
    )

    id = Column(Integer, primary_key=True)
    # urgent_lead | handoff | sla_warning | sla_breach | outbox_dead | ledger_mismatch
    kind = Column(String(30), nullable=False)
    priority = Column(String(10), nullable=False)  # a lead's priority or an incident's severity
    entity_type = Column(String(40), nullable=False)  # lead | outbox | invoice | receipt | ...
    entity_id = Column(String(100), nullable=False)
    title = Column(String(200), nullable=False)
    link = Column(String(500), nullable=False)
    channels = Column(JSON, nullable=False, default=list)  # queued on: slack, teams, email
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)
