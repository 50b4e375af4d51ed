"""How team alerts react to what happened elsewhere (wired in backend/bootstrap.py).

| event            | alert kind                               | link                     |
| ---------------- | ---------------------------------------- | ------------------------ |
| LeadCreated      | urgent_lead (priority urgent), handoff   | the lead in the inbox    |
| LeadSlaAtRisk    | sla_warning                              | the lead in the inbox    |
| IncidentOpened   | sla_breach, ledger_mismatch              | the lead / the incidents |
| OutboxMessageDead| outbox_dead (not for alert rows: no loop)| the alerts page          |

The settings are this process's (get_settings): which channels are configured, the base URL.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.alerts.service import OUTBOX_KIND, raise_alert
from backend.config import get_settings
from backend.events import IncidentOpened, LeadCreated, LeadSlaAtRisk, OutboxMessageDead
from backend.sales.models import Lead

INCIDENT_ALERTS = {"sla_breach", "ledger_mismatch"}


def _lead_path(lead_id: int) -> str:
    return f"/dashboard/leads#lead-{lead_id}"


def new_lead(session: Session, event: LeadCreated) -> None:
    """An urgent (emergency) lead or a handoff: someone is waiting for a person."""
    lead = session.get(Lead, event.lead_id)
    if lead is None:
        return
    if lead.priority == "urgent":
        kind, title = "urgent_lead", f"Urgent lead #{lead.id} ({lead.kind}): reply now"
    elif lead.kind == "handoff":
        kind, title = "handoff", f"Lead #{lead.id}: a customer asked for a person"
    else:
        return
    raise_alert(
        session, settings=get_settings(), kind=kind, priority=lead.priority, entity_type="lead",
        entity_id=lead.id, title=title, path=_lead_path(lead.id),
    )  # fmt: skip


def sla_at_risk(session: Session, event: LeadSlaAtRisk) -> None:
    raise_alert(
        session, settings=get_settings(), kind="sla_warning", priority=event.priority,
        entity_type="lead", entity_id=event.lead_id, path=_lead_path(event.lead_id),
        title=f"Lead #{event.lead_id} ({event.kind}) is close to its first-reply deadline",
    )  # fmt: skip


def incident(session: Session, event: IncidentOpened) -> None:
    if event.kind not in INCIDENT_ALERTS:
        return
    if event.kind == "sla_breach":
        raise_alert(
            session, settings=get_settings(), kind="sla_breach", priority=event.severity,
            entity_type="lead", entity_id=event.entity_id or event.incident_id,
            path=_lead_path(int(event.entity_id)) if (event.entity_id or "").isdigit()
            else "/dashboard/incidents",
            title=f"Lead #{event.entity_id} missed its first-reply deadline",
        )  # fmt: skip
        return
    what = f"{event.entity_type or 'record'} {event.entity_id or ''}".strip()
    raise_alert(
        session, settings=get_settings(), kind=event.kind, priority=event.severity,
        entity_type=event.entity_type or "incident",
        entity_id=event.entity_id or event.incident_id, path="/dashboard/incidents",
        title=f"Ledger mismatch: {what} does not match its ledger entry",
    )  # fmt: skip


def outbox_dead(session: Session, event: OutboxMessageDead) -> None:
    if event.kind in OUTBOX_KIND.values():  # an alert that could not be sent: no alert about it
        return
    raise_alert(
        session, settings=get_settings(), kind="outbox_dead", priority="high",
        entity_type="outbox", entity_id=event.message_id, path="/dashboard/alerts",
        title=f"Outbox message #{event.message_id} ({event.kind}, {event.topic}) gave up",
    )  # fmt: skip
