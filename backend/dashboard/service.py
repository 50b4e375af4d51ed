"""Read-only queries behind the dashboards; plain dicts out, so HTML and JSON share them.

Nothing here writes: the views log personal-data reads through backend.auth.service.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.contacts.models import Contact, Conversation
from backend.incidents import Incident
from backend.jobs.models import JobRun
from backend.money import format_minor
from backend.orders.models import Order
from backend.outbox.models import OutboxMessage
from backend.sales.inbox import is_web_chat
from backend.sales.models import Lead

WAITING_STATUSES = ("new", "assigned")  # no human has replied yet
REVENUE_STATUSES = ("paid", "refunded", "partially_refunded")


def iso(value: datetime | None) -> str | None:
    """ISO-8601 in UTC; SQLite hands back naive datetimes that were stored as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="seconds")


def lead_counts(session: Session) -> dict:
    """Leads by kind: those still new, and all not yet closed."""
    rows = session.execute(
        select(Lead.kind, Lead.status, func.count()).group_by(Lead.kind, Lead.status)
    )
    counts: dict[str, dict[str, int]] = {"new": {}, "open": {}}
    for kind, status, n in rows:
        if status == "new":
            counts["new"][kind] = counts["new"].get(kind, 0) + n
        if status != "closed":
            counts["open"][kind] = counts["open"].get(kind, 0) + n
    return counts


def waiting_leads(session: Session, *, now: datetime) -> dict:
    """Leads nobody has replied to yet, how many are past their SLA, and the next deadline."""
    waiting = Lead.status.in_(WAITING_STATUSES)
    total, next_due = session.execute(
        select(func.count(), func.min(Lead.sla_due_at)).where(waiting)
    ).one()
    overdue = session.execute(
        select(func.count()).where(waiting, Lead.sla_due_at < now)
    ).scalar_one()
    return {"waiting": total, "overdue": overdue, "next_due_at": iso(next_due)}


def order_stats(session: Session) -> dict:
    """Order counts by status and revenue (paid minus refunded) per currency."""
    by_status = dict(
        session.execute(select(Order.status, func.count()).group_by(Order.status)).all()
    )
    revenue = session.execute(
        select(Order.currency, func.sum(Order.total_minor - Order.refunded_minor))
        .where(Order.status.in_(REVENUE_STATUSES))
        .group_by(Order.currency)
        .order_by(Order.currency)
    ).all()
    return {
        "by_status": by_status,
        "revenue": [
            {
                "currency": cur,
                "amount_minor": int(amount),
                "display": format_minor(int(amount), cur),
            }
            for cur, amount in revenue
        ],
    }


def latest_job_runs(session: Session) -> list[dict]:
    """The most recent run of every job that has run at least once."""
    latest = select(func.max(JobRun.id)).group_by(JobRun.job).scalar_subquery()
    runs = session.execute(
        select(JobRun).where(JobRun.id.in_(latest)).order_by(JobRun.job)
    ).scalars()
    return [job_run(run) for run in runs]


def incident_counts(session: Session) -> dict:
    rows = session.execute(
        select(Incident.severity, func.count())
        .where(Incident.status == "open")
        .group_by(Incident.severity)
    ).all()
    return {"open": sum(n for _, n in rows), "by_severity": dict(rows)}


def trend_sources(session: Session) -> dict | None:
    """Per-source status labels from the latest finished `trend_ingest` run, if any."""
    run = session.execute(
        select(JobRun)
        .where(JobRun.job == "trend_ingest", JobRun.status != "running")
        .order_by(JobRun.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if run is None:
        return None
    counts = run.counts or {}
    return {
        "run_status": run.status,
        "finished_at": iso(run.finished_at),
        "sources": {
            k.removeprefix("source."): v for k, v in counts.items() if k.startswith("source.")
        },
        "trends": counts.get("trends"),
        "matches": counts.get("matches"),
    }


def outbox_pending(session: Session) -> dict:
    rows = session.execute(
        select(OutboxMessage.kind, func.count())
        .where(OutboxMessage.status == "pending")
        .group_by(OutboxMessage.kind)
    ).all()
    return {"pending": sum(n for _, n in rows), "by_kind": dict(rows)}


def summary(session: Session, *, now: datetime) -> dict:
    """Everything on the overview page; contains no personal data."""
    return {
        "generated_at": iso(now),
        "leads": lead_counts(session),
        "handoffs": waiting_leads(session, now=now),
        "orders": order_stats(session),
        "jobs": latest_job_runs(session),
        "incidents": incident_counts(session),
        "trend_sources": trend_sources(session),
        "outbox": outbox_pending(session),
    }


def list_leads(session: Session, *, include_closed: bool = False, limit: int = 100) -> list[dict]:
    """Leads with their contact's name and email (personal data: the caller logs the read)."""
    query = (
        select(Lead, Contact.name, Contact.email, Contact.erased_at, Conversation.handed_off)
        .outerjoin(Contact, Contact.id == Lead.contact_id)
        .outerjoin(Conversation, Conversation.sender_id == Lead.conversation_id)
        .order_by(Lead.sla_due_at.is_(None), Lead.sla_due_at, Lead.id)
        .limit(limit)
    )
    if not include_closed:
        query = query.where(Lead.status != "closed")
    return [
        {
            "id": lead.id,
            "kind": lead.kind,
            "priority": lead.priority,
            "status": lead.status,
            "assigned_to": lead.assigned_to,
            "goal": lead.goal,
            "reason": lead.reason,
            "preferred_time": lead.preferred_time,
            "sla_due_at": iso(lead.sla_due_at),
            "created_at": iso(lead.created_at),
            "web_chat": is_web_chat(lead.conversation_id),  # staff can reply in its window
            "has_chat": lead.conversation_id is not None,  # a transcript to read
            "bot_paused": bool(paused),  # a person has the chat (sales/takeover.py)
            "contact": None
            if lead.contact_id is None
            else {
                "id": lead.contact_id,
                "name": None if erased else name,
                "email": None if erased else email,
                "erased": erased is not None,
            },
        }
        for lead, name, email, erased, paused in session.execute(query)
    ]


def list_incidents(
    session: Session, *, include_closed: bool = False, limit: int = 100
) -> list[dict]:
    query = select(Incident).order_by(Incident.id.desc()).limit(limit)
    if not include_closed:
        query = query.where(Incident.status == "open")
    return [
        {
            "id": i.id,
            "kind": i.kind,
            "severity": i.severity,
            "status": i.status,
            "entity_type": i.entity_type,
            "entity_id": i.entity_id,
            "detail": i.detail or {},
            "note": i.note,
            "created_at": iso(i.created_at),
        }
        for i in session.execute(query).scalars()
    ]


def list_job_runs(session: Session, *, job: str | None = None, limit: int = 100) -> list[dict]:
    """The latest runs, newest first (of one job when `job` is given)."""
    query = select(JobRun).order_by(JobRun.id.desc()).limit(limit)
    if job is not None:
        query = query.where(JobRun.job == job)
    return [job_run(run) for run in session.execute(query).scalars()]


def job_run(run: JobRun) -> dict:
    return {
        "id": run.id,
        "job": run.job,
        "status": run.status,
        "counts": run.counts or {},
        "error": run.error,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
    }
