"""The SLA check: a lead still waiting for a first human reply after its deadline is a breach.

A breach becomes one `Incident` (kind `sla_breach`, entity `lead`/<id>) per lead, ever: a lead
reopened and missed again is already on the incidents page. Urgent leads (emergencies) raise a
critical incident, the rest a warning. The incident holds no personal data, only the lead's
kind, priority, status and timing. The lead's history gets a system `sla_breached` row.

Before that, when `warn_percent` of a waiting lead's window is gone (80 % by default,
SLA_WARNING_PERCENT), the lead's history gets one system `sla_at_risk` row and LeadSlaAtRisk is
published. The team alerts (backend/alerts/) react to both: the warning and the breach (through
IncidentOpened) reach the team's Slack/Teams/mailbox once per lead.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import String, and_, cast, exists, or_, select
from sqlalchemy.orm import Session

from backend import bus
from backend.db import utcnow
from backend.events import LeadSlaAtRisk
from backend.incidents import Incident, raise_incident
from backend.sales.models import Lead, LeadActivity
from backend.sales.routing import DEFAULT_ROUTE, ROUTES

BREACH = "sla_breach"
WAITING = ("new", "assigned")  # nobody has replied yet
BATCH = 500
AT_RISK = "sla_at_risk"  # the history row of the warning (one per lead, ever)


def check_sla(
    session: Session, *, now: datetime | None = None, limit: int = BATCH, warn_percent: int = 80
) -> dict:
    """Warn once per waiting lead near its deadline; one incident per lead past it."""
    now = now or utcnow()
    at_risk = warn_at_risk(session, now=now, limit=limit, warn_percent=warn_percent)
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
        raise_incident(
            session,
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
            ),
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
    return {"at_risk": at_risk, "breached": len(overdue)}


def warn_at_risk(session: Session, *, now: datetime, limit: int, warn_percent: int) -> int:
    """Leads still waiting with less than (100 - warn_percent) % of their window left, not yet
    past it and not yet warned: a system `sla_at_risk` history row and LeadSlaAtRisk each."""
    warned = exists().where(LeadActivity.lead_id == Lead.id, LeadActivity.action == AT_RISK)
    left = (100 - warn_percent) / 100

    def soon(route):  # the lead's window (by its kind) is mostly gone
        return Lead.sla_due_at <= now + route.first_reply_within * left

    by_kind = [and_(Lead.kind == kind, soon(route)) for kind, route in ROUTES.items()]
    by_kind.append(and_(Lead.kind.notin_(list(ROUTES)), soon(DEFAULT_ROUTE)))
    leads = (
        session.execute(
            select(Lead)
            .where(Lead.status.in_(WAITING), Lead.sla_due_at >= now, or_(*by_kind), ~warned)
            .order_by(Lead.sla_due_at, Lead.id)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    for lead in leads:
        session.add(
            LeadActivity(
                lead_id=lead.id, action=AT_RISK, from_status=lead.status, to_status=lead.status,
                detail={"sla_due_at": lead.sla_due_at.isoformat(timespec="seconds")},
                created_at=now,
            )
        )  # fmt: skip
        session.flush()
        bus.publish(session, LeadSlaAtRisk(lead_id=lead.id, kind=lead.kind, priority=lead.priority))
    return len(leads)
