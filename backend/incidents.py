"""Incidents: something went wrong that a person must look at (ledger mismatch, failed job, SLA
breach, a payment for an order we cannot honour). Raised by several areas, shown in the
dashboard; kept out of any one business area so none has to import another to raise one.
`raise_incident` stores one and tells the bus (team alerts react, backend/bootstrap.py).
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Integer, String, Text
from sqlalchemy.orm import Session

from backend import bus
from backend.db import Base, utcnow
from backend.events import IncidentOpened


class Incident(Base):
    __tablename__ = "incidents"

    id = Column(Integer, primary_key=True)
    kind = Column(String(40), nullable=False)  # ledger_mismatch | job_failed | sla_breach | ...
    severity = Column(String(10), nullable=False, default="warning")
    entity_type = Column(String(40))
    entity_id = Column(String(100))
    detail = Column(JSON, nullable=False, default=dict)
    status = Column(String(20), nullable=False, default="open")
    note = Column(Text)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


def raise_incident(session: Session, incident: Incident) -> Incident:
    """Store `incident` (flushed, not committed) and publish IncidentOpened in this session."""
    session.add(incident)
    session.flush()
    bus.publish(
        session,
        IncidentOpened(
            incident_id=incident.id,
            kind=incident.kind,
            severity=incident.severity,
            entity_type=incident.entity_type,
            entity_id=incident.entity_id,
        ),
    )
    return incident
