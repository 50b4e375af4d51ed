"""The executive overview: compliance and sales KPIs, pipeline, alerts and chart series.

Every figure is an aggregate computed in SQL over the chosen period (COUNT/SUM/GROUP BY, never
by loading rows), so the page stays fast with a million ledger entries. Re-hashing documents
and consents against the ledger is the `audit_verify` job's work; the page shows its last run
("verified n of N", N counted now). Plain dicts out, no personal data: HTML and JSON share them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from sqlalchemy import DateTime, and_, bindparam, case, exists, func, or_, select, text
from sqlalchemy.orm import Session

from backend.contacts.models import ConsentEvent, Conversation, Interaction
from backend.dashboard.models import FunnelChat
from backend.dashboard.service import REVENUE_STATUSES, WAITING_STATUSES, iso
from backend.incidents import Incident
from backend.jobs.models import JobRun
from backend.messaging.models import FollowUp
from backend.money import format_minor, to_decimal
from backend.orders.models import CreditNote, Invoice, Order, Payment, Receipt
from backend.outbox.models import OutboxMessage
from backend.sales.models import Lead, LeadActivity

MAX_DAYS = 366
ALERT_WINDOW = timedelta(days=30)
LEAD_STAGES = ("new", "assigned", "contacted", "closed")
FUNNEL_STEPS = ("chats", "consent", "goal", "recommendation", "checkout", "paid")
# The audit job's counts name these entity types (backend/orders/records.py).
AUDITED = (("consent", ConsentEvent), ("receipt", Receipt), ("invoice", Invoice))


@dataclass(frozen=True)
class Period:
    """[start, end) and the equally long period before it (for growth)."""

    end: datetime
    days: int

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=self.days)

    @property
    def previous_start(self) -> datetime:
        return self.end - timedelta(days=2 * self.days)


def _pct(part: int, whole: int) -> float | None:
    return None if not whole else round(100.0 * part / whole, 1)


def _count(session: Session, *where) -> int:
    """COUNT(*) of the table the conditions are on."""
    return session.execute(select(func.count()).where(*where)).scalar_one()


# --- compliance -----------------------------------------------------------------------------
def last_audit(session: Session) -> JobRun | None:
    return session.execute(
        select(JobRun)
        .where(JobRun.job == "audit_verify", JobRun.status == "ok")
        .order_by(JobRun.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def compliance_kpis(session: Session, *, now: datetime) -> dict:
    """Verified n/N per audited kind (n from the last audit run), alerts in the last 30 days."""
    run = last_audit(session)
    counts = (run.counts or {}) if run else {}
    verified = []
    for kind, model in AUDITED:
        total = session.execute(select(func.count(model.id))).scalar_one()
        n = int(counts.get(f"verified.{kind}", 0))
        verified.append(
            {
                "kind": kind,
                "verified": n,
                "total": total,
                "percent": _pct(n, total),
                "mismatched": int(counts.get(f"mismatched.{kind}", 0)),
            }
        )
    since = now - ALERT_WINDOW
    alerts = session.execute(
        select(
            func.count(),
            func.sum(case((Incident.kind == "ledger_mismatch", 1), else_=0)),
            func.sum(case((Incident.status != "open", 1), else_=0)),
        ).where(Incident.created_at >= since)
    ).one()
    return {
        "audited_at": iso(run.finished_at) if run else None,
        "ledger_entries": counts.get("ledger_entries"),
        "verified": verified,
        "alerts_30d": {
            "total": alerts[0],
            "mismatches": int(alerts[1] or 0),
            "resolved": int(alerts[2] or 0),
        },
    }


def compliance_trend(session: Session, *, period: Period) -> list[dict]:
    """The compliance score (records verified ÷ records checked, %) of each audit run in the
    period; audit runs are daily, so at most a few hundred small rows."""
    runs = session.execute(
        select(JobRun.finished_at, JobRun.counts)
        .where(
            JobRun.job == "audit_verify",
            JobRun.status == "ok",
            JobRun.started_at >= period.start,
            JobRun.started_at < period.end,
        )
        .order_by(JobRun.id)
    ).all()
    out = []
    for finished_at, counts in runs:
        counts = counts or {}
        verified = sum(int(v) for k, v in counts.items() if k.startswith("verified."))
        mismatches = int(counts.get("mismatches", 0))
        out.append(
            {
                "at": iso(finished_at),
                "verified": verified,
                "mismatches": mismatches,
                "score": _pct(verified, verified + mismatches) if verified + mismatches else 100.0,
            }
        )
    return out


# --- sales ----------------------------------------------------------------------------------
def paid_by_currency(session: Session, *, start: datetime, end: datetime) -> dict[str, int]:
    """Successful payments in [start, end), per currency."""
    rows = session.execute(
        select(Payment.currency, func.sum(Payment.amount_minor))
        .where(Payment.status == "succeeded", Payment.created_at >= start, Payment.created_at < end)
        .group_by(Payment.currency)
    ).all()
    return {cur: int(n or 0) for cur, n in rows}


def _net_revenue(
    session: Session, *, start: datetime, end: datetime, paid: dict[str, int] | None = None
) -> dict[str, int]:
    """Successful payments (`paid`, when the caller has them) minus credit notes issued in
    [start, end), per currency."""
    if paid is None:
        paid = paid_by_currency(session, start=start, end=end)
    refunded = session.execute(
        select(Order.currency, func.sum(CreditNote.amount_minor))
        .join(Order, Order.id == CreditNote.order_id)
        .where(CreditNote.issued_at >= start, CreditNote.issued_at < end)
        .group_by(Order.currency)
    ).all()
    out = dict(paid)
    for cur, n in refunded:
        out[cur] = out.get(cur, 0) - int(n or 0)
    return out


def revenue(session: Session, *, period: Period, paid: dict[str, int] | None = None) -> list[dict]:
    """Net revenue in the period and its growth over the period before, per currency (`paid`:
    the period's successful payments, when the caller has them)."""
    now_ = _net_revenue(session, start=period.start, end=period.end, paid=paid)
    before = _net_revenue(session, start=period.previous_start, end=period.start)
    rows = []
    for cur in sorted(set(now_) | set(before)):
        amount, previous = now_.get(cur, 0), before.get(cur, 0)
        growth = None if previous <= 0 else round(100.0 * (amount - previous) / previous, 1)
        rows.append(
            {
                "currency": cur,
                "amount_minor": amount,
                "display": format_minor(amount, cur),
                "previous_minor": previous,
                "previous_display": format_minor(previous, cur),
                "growth_percent": growth,
            }
        )
    return rows


def sales_kpis(
    session: Session,
    *,
    now: datetime,
    period: Period,
    funnel_rows: list[dict] | None = None,
    paid: dict[str, int] | None = None,
) -> dict:
    day_ago = now - timedelta(days=1)
    in_period = and_(Lead.created_at >= period.start, Lead.created_at < period.end)
    funnel_rows = funnel_rows if funnel_rows is not None else funnel(session, period=period)
    funnel_counts = {row["step"]: row["count"] for row in funnel_rows}
    return {
        "new_leads_24h": _count(session, Lead.created_at >= day_ago),
        "high_intent_leads": _count(session, in_period, Lead.kind == "high_intent"),
        "leads_in_period": _count(session, in_period),
        "follow_ups_due_24h": _count(
            session, FollowUp.status == "scheduled", FollowUp.due_at < now + timedelta(days=1)
        ),
        "sla_overdue": _count(session, Lead.status.in_(WAITING_STATUSES), Lead.sla_due_at < now),
        "closed_30d": session.execute(
            select(func.count(func.distinct(LeadActivity.lead_id))).where(
                LeadActivity.to_status == "closed", LeadActivity.created_at >= now - ALERT_WINDOW
            )
        ).scalar_one(),
        "conversion_percent": _pct(funnel_counts["paid"], funnel_counts["chats"]),
        "revenue": revenue(session, period=period, paid=paid),
    }


def pipeline(session: Session) -> list[dict]:
    """Leads per stage, and how many of them have a privacy consent and a receipt on record."""
    consented = exists().where(
        ConsentEvent.contact_id == Lead.contact_id,
        ConsentEvent.purpose == "privacy",
        ConsentEvent.granted.is_(True),
    )
    receipted = exists().where(Order.contact_id == Lead.contact_id, Receipt.order_id == Order.id)
    rows = session.execute(
        select(
            Lead.status,
            func.count(),
            func.sum(case((consented, 1), else_=0)),
            func.sum(case((receipted, 1), else_=0)),
        ).group_by(Lead.status)
    ).all()
    found = {status: (n, int(c or 0), int(r or 0)) for status, n, c, r in rows}
    stages = list(LEAD_STAGES) + sorted(set(found) - set(LEAD_STAGES))
    return [
        {
            "stage": stage,
            "leads": found.get(stage, (0, 0, 0))[0],
            "with_consent": found.get(stage, (0, 0, 0))[1],
            "with_receipt": found.get(stage, (0, 0, 0))[2],
        }
        for stage in stages
    ]


def alerts(session: Session, *, now: datetime) -> list[dict]:
    """What needs a person now, each with the page that shows it (empty ones left out)."""
    mismatches = _count(session, Incident.kind == "ledger_mismatch", Incident.status == "open")
    receipt_mismatches = _count(
        session,
        Incident.kind == "ledger_mismatch",
        Incident.status == "open",
        Incident.entity_type == "receipt",
    )
    consent_missing = _count(
        session,
        Incident.kind == "ledger_mismatch",
        Incident.status == "open",
        Incident.entity_type == "consent",
    )
    sla = _count(session, Lead.status.in_(WAITING_STATUSES), Lead.sla_due_at < now)
    dead = _count(session, OutboxMessage.status == "dead")
    incidents = "/dashboard/incidents"
    other = mismatches - receipt_mismatches - consent_missing
    found = [
        ("receipt_mismatch", receipt_mismatches, "receipts that differ from the ledger", incidents),
        (
            "consent_mismatch",
            consent_missing,
            "consents unlike the ledger",
            incidents,
        ),
        ("ledger_mismatch", other, "other ledger mismatches", incidents),
        ("sla_breach", sla, "leads past their SLA", "/dashboard/leads"),
        ("outbox_dead", dead, "outbox rows given up on", "/dashboard/outbox"),
    ]
    return [
        {"kind": kind, "count": n, "label": label, "link": link}
        for kind, n, label, link in found
        if n
    ]


# --- chart series ---------------------------------------------------------------------------
def _day(value) -> str:
    """SQLite's date() gives text, Postgres's a date: one ISO day string either way."""
    return value.isoformat() if isinstance(value, date) else str(value)[:10]


def days_of(period: Period) -> list[str]:
    """The period's calendar days, the last one being the day of its (exclusive) end."""
    first = (period.end - timedelta(microseconds=1)).date() - timedelta(days=period.days - 1)
    return [(first + timedelta(days=i)).isoformat() for i in range(period.days)]


def day_bounds(period: Period) -> list[tuple[str, datetime, datetime]]:
    """Each day of `days_of(period)` with its [start, end) in the period's time zone (UTC),
    cut to the period: the last day ends at the period's end."""
    out = []
    for day in days_of(period):
        lo = datetime.combine(date.fromisoformat(day), time(), tzinfo=period.end.tzinfo)
        out.append((day, max(lo, period.start), min(lo + timedelta(days=1), period.end)))
    return out


# One day's figure; {i} numbers the day's binds. Plain SQL (the same on SQLite and Postgres).
PER_DAY_SQL = {
    "orders": "SELECT count(*) FROM orders WHERE created_at >= :lo{i} AND created_at < :hi{i}",
    "payments": (  # successful payments in one currency
        "SELECT coalesce(sum(amount_minor), 0) FROM payments "
        "WHERE created_at >= :lo{i} AND created_at < :hi{i} "
        "AND status = 'succeeded' AND currency = :currency"
    ),
}


@lru_cache(maxsize=64)
def _per_day_statement(series: str, n_days: int):
    """One SELECT with a scalar subquery per day, each an index range over that day only.

    Grouping a year of rows by date() sorts them all (~60 ms per 100k rows on SQLite); n range
    seeks on the covering index read the same rows in index order with no sort. Text, built
    once per series and length: the same statement as SQLAlchemy constructs took ~0.35 s to
    compile for a year, on the first overview of each process.
    """
    bound = DateTime(timezone=True)
    sql = "SELECT " + ", ".join(f"({PER_DAY_SQL[series].format(i=i)})" for i in range(n_days))
    return text(sql).bindparams(
        *(bindparam(f"{edge}{i}", type_=bound) for i in range(n_days) for edge in ("lo", "hi"))
    )


def _per_day(session: Session, series: str, bounds: list, **params) -> list[int]:
    for i, (_, lo, hi) in enumerate(bounds):
        params[f"lo{i}"], params[f"hi{i}"] = lo, hi
    row = session.execute(_per_day_statement(series, len(bounds)), params).one()
    return [int(n or 0) for n in row]


def orders_per_day(
    session: Session, *, period: Period, paid: dict[str, int] | None = None
) -> list[dict]:
    """Orders created and successful payments per day of the period, in the currency with the
    most paid in the whole period (ties: the first alphabetically; `paid`: the period's
    successful payments per currency, when the caller has them)."""
    bounds = day_bounds(period)
    orders = _per_day(session, "orders", bounds)
    if paid is None:
        paid = paid_by_currency(session, start=period.start, end=period.end)
    currency = max(sorted(paid), key=paid.get) if paid else None
    per_day = _per_day(session, "payments", bounds, currency=currency) if currency else None
    return [
        {
            "day": day,
            "orders": orders[i],
            "revenue_minor": per_day[i] if per_day else 0,
            "revenue": float(to_decimal(per_day[i], currency)) if per_day else 0.0,
            "currency": currency,
        }
        for i, (day, _, _) in enumerate(bounds)
    ]


def leads_per_day(session: Session, *, period: Period) -> dict:
    """Leads created per day and kind."""
    day = func.date(Lead.created_at)
    rows = session.execute(
        select(day, Lead.kind, func.count())
        .where(Lead.created_at >= period.start, Lead.created_at < period.end)
        .group_by(day, Lead.kind)
    ).all()
    kinds = sorted({kind for _, kind, _ in rows})
    per = {(_day(d), kind): n for d, kind, n in rows}
    return {
        "kinds": kinds,
        "days": [
            {"day": d, **{kind: per.get((d, kind), 0) for kind in kinds}} for d in days_of(period)
        ],
    }


def _chats_reached(session: Session, *, step: str, period: Period, row_in_period) -> int:
    """Distinct chats with a `step` row in the period, from each chat's latest row (FunnelChat):
    latest row in the period, or later with `row_in_period` (an EXISTS on the step's own rows;
    only rows dated after the period's end, i.e. hardly ever, get there)."""
    return session.execute(
        select(func.count()).where(
            FunnelChat.step == step,
            FunnelChat.last_at >= period.start,
            or_(FunnelChat.last_at < period.end, row_in_period.exists()),
        )
    ).scalar_one()


def funnel(session: Session, *, period: Period) -> list[dict]:
    """Chats started in the period, and how many distinct chats reached each step in it.

    Consent, goal, checkout and paid count index ranges over each chat's latest row per step
    (FunnelChat, kept by triggers in the same transaction as the consents and orders, so today
    is always live); COUNT(DISTINCT chat) over the period's rows cost ~1.5 µs a row on SQLite.
    Recommendations (fewer rows) keep a COUNT(DISTINCT) on their covering index.
    """
    start, end = period.start, period.end
    chat = FunnelChat.conversation_id

    def consented(step: str, purpose: str) -> int:
        row = select(ConsentEvent.id).where(
            ConsentEvent.conversation_id == chat,
            ConsentEvent.purpose == purpose,
            ConsentEvent.granted.is_(True),
            ConsentEvent.created_at >= start,
            ConsentEvent.created_at < end,
        )
        return _chats_reached(session, step=step, period=period, row_in_period=row)

    def ordered(step: str, *statuses: str) -> int:
        row = select(Order.id).where(
            Order.conversation_id == chat, Order.created_at >= start, Order.created_at < end
        )
        if statuses:
            row = row.where(Order.status.in_(statuses))
        return _chats_reached(session, step=step, period=period, row_in_period=row)

    chats = session.execute(
        select(func.count()).where(Conversation.created_at >= start, Conversation.created_at < end)
    ).scalar_one()
    recommendation = session.execute(
        select(func.count(func.distinct(Interaction.conversation_id))).where(
            Interaction.kind == "recommendation",
            Interaction.created_at >= start,
            Interaction.created_at < end,
        )
    ).scalar_one()
    consent, goal = consented("consent", "privacy"), consented("goal", "health_data")
    checkout, paid = ordered("checkout"), ordered("paid", *REVENUE_STATUSES)
    counts = dict(
        zip(FUNNEL_STEPS, (chats, consent, goal, recommendation, checkout, paid), strict=True)
    )
    return [
        {
            "step": step,
            "count": int(counts[step] or 0),
            "percent": _pct(int(counts[step] or 0), chats),
        }
        for step in FUNNEL_STEPS
    ]


def _minutes_between(session: Session, later, earlier):
    """Minutes from `earlier` to `later` as a SQL expression (SQLite or Postgres)."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 1440.0
    return func.extract("epoch", later - earlier) / 60.0


def response_times(session: Session, *, now: datetime, period: Period) -> list[dict]:
    """Per day of the period (leads by the day they came in): leads, first human replies, the
    median minutes to that reply, the SLA target (average of the leads' own deadlines) and the
    breaches (replied after the deadline, or still waiting past it). All in SQL: the median is
    the middle row(s) of a window ordered by minutes, per day."""
    first_reply = (
        select(LeadActivity.lead_id, func.min(LeadActivity.created_at).label("replied_at"))
        .where(LeadActivity.to_status == "contacted")
        .group_by(LeadActivity.lead_id)
        .subquery()
    )
    day = func.date(Lead.created_at).label("day")
    minutes = _minutes_between(session, first_reply.c.replied_at, Lead.created_at)
    target = _minutes_between(session, Lead.sla_due_at, Lead.created_at)
    breached = case(
        (first_reply.c.replied_at > Lead.sla_due_at, 1),
        (and_(first_reply.c.replied_at.is_(None), Lead.sla_due_at < now), 1),
        else_=0,
    )
    in_period = and_(Lead.created_at >= period.start, Lead.created_at < period.end)
    per_day = session.execute(
        select(
            day,
            func.count(),
            func.count(first_reply.c.replied_at),
            func.avg(target),
            func.sum(breached),
        )
        .select_from(Lead)
        .outerjoin(first_reply, first_reply.c.lead_id == Lead.id)
        .where(in_period)
        .group_by(day)
    ).all()
    ranked = (
        select(
            day,
            minutes.label("minutes"),
            func.row_number().over(partition_by=day, order_by=minutes).label("rn"),
            func.count().over(partition_by=day).label("n"),
        )
        .select_from(Lead)
        .join(first_reply, first_reply.c.lead_id == Lead.id)
        .where(in_period)
        .subquery()
    )
    middle = and_(ranked.c.rn >= ranked.c.n / 2.0, ranked.c.rn <= ranked.c.n / 2.0 + 1)
    medians = {
        _day(d): float(m)
        for d, m in session.execute(
            select(ranked.c.day, func.avg(ranked.c.minutes)).where(middle).group_by(ranked.c.day)
        )
    }
    found = {_day(d): rest for d, *rest in per_day}
    out = []
    for d in days_of(period):
        n, replied, avg_target, breaches = found.get(d, (0, 0, None, 0))
        median = medians.get(d)
        out.append(
            {
                "day": d,
                "leads": int(n),
                "replied": int(replied),
                "median_minutes": None if median is None else round(median, 1),
                "sla_minutes": None if avg_target is None else round(float(avg_target), 1),
                "breaches": int(breaches or 0),
            }
        )
    return out


def executive(session: Session, *, now: datetime, days: int = 30) -> dict:
    """Everything on the executive overview page for the `days` up to `now`."""
    period = Period(end=now, days=max(1, min(days, MAX_DAYS)))
    funnel_rows = funnel(session, period=period)
    paid = paid_by_currency(session, start=period.start, end=period.end)  # revenue and chart
    return {
        "generated_at": iso(now),
        "period": {"days": period.days, "start": iso(period.start), "end": iso(period.end)},
        "compliance": compliance_kpis(session, now=now),
        "compliance_trend": compliance_trend(session, period=period),
        "sales": sales_kpis(session, now=now, period=period, funnel_rows=funnel_rows, paid=paid),
        "pipeline": pipeline(session),
        "alerts": alerts(session, now=now),
        "funnel": funnel_rows,
        "orders_per_day": orders_per_day(session, period=period, paid=paid),
        "leads_per_day": leads_per_day(session, period=period),
        "response_times": response_times(session, now=now, period=period),
    }
