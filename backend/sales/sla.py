"""The SLA check: a lead still waiting for a first human reply after its deadline is a breach.

A breach becomes one `Incident` (kind `sla_breach`, entity `lead`/<id>) per lead, ever: a lead
reopened and missed again is already on the incidents page. Urgent leads (emergencies) raise a
critical incident, the rest a warning. The incident holds no personal data, only the lead's
kind, priority, status and timing. The lead's history gets a system `sla_breached` row.

There is no alert message: no setting names a sales mailbox or chat, and the email/SMS/WhatsApp
outbox kinds are for customers (they go through the consent gate). Sales see breaches on
/dashboard (overdue count) and /dashboard/incidents.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import String, cast, exists, select
from sqlalchemy.orm import Session

from backend.db import utcnow
from backend.incidents import Incident
from backend.sales.models import Lead, LeadActivity

BREACH = "sla_breach"
WAITING = ("new", "assigned")  # nobody has replied yet
BATCH = 500


def check_sla(session: Session, *, now: datetime | None = None, limit: int = BATCH) -> dict:
    """Open one incident per lead past its SLA that is still new or assigned."""
    now = now or utcnow()
    already = exists().where(
        Incident.kind == BREACH,
        Incident.entity_type == "lead",
        Incident.entity_id == cast(Lead.id, String),
    )
    overdue = (
        session.execute(
            select(Lead)
            .where(Lead.status.in_(WAITING), Lead.sla_due_at < now, ~already)
            .order_by(Lead.sla_due_at, Lead.id)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    for lead in overdue:
        due = (
            lead.sla_due_at
            if lead.sla_due_at.tzinfo
            else lead.sla_due_at.replace(tzinfo=timezone.utc)
        )
        session.add(
            Incident(
                kind=BREACH,
                severity="critical" if lead.priority == "urgent" else "warning",
                entity_type="lead",
                entity_id=str(lead.id),
                detail={
                    "lead_id": lead.id,
                    "kind": lead.kind,
                    "priority": lead.priority,
                    "status": lead.status,
                    "assigned_to": lead.assigned_to,
                    "sla_due_at": due.isoformat(timespec="seconds"),
                    "minutes_overdue": int((now - due).total_seconds() // 60),
                },
            )
        )
        session.add(
            LeadActivity(
                lead_id=lead.id,
                action="sla_breached",
                from_status=lead.status,
                to_status=lead.status,
                detail={},
                created_at=now,
            )
        )
    session.flush()
    return {"breached": len(overdue)}
