"""Staff dashboards (HTML) and their JSON twins under /api/admin; reads only here.

The leads page also carries the inbox forms; their POST routes live in backend/sales/views.py.

Who may read what (DESIGN rule 7): the overview is for every staff role; leads carry personal
data, so only sales and admin see them and every read is written to the access log.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from backend.api.deps import MAX_ROW_ID, RowId, session_dep, settings_dep
from backend.auth import web as auth_web
from backend.auth.models import ROLES, StaffUser
from backend.auth.service import log_access
from backend.auth.web import StaffRoute, require_role
from backend.config import Settings
from backend.dashboard import charts, csrf, overview, reports, service
from backend.db import utcnow
from backend.jobs import registry
from backend.sales import inbox, transcript
from backend.trends import history
from backend.trends.service import top_trends

templates = Jinja2Templates(
    directory=str(Path(__file__).resolve().parent.parent / "api" / "templates")
)
router = APIRouter(route_class=StaffRoute)
router.include_router(auth_web.router)

any_staff = require_role(*ROLES, action="see the dashboard")
lead_readers = require_role("admin", "sales", action="read leads (personal data)")
incident_readers = require_role("admin", "compliance", action="read incidents")
job_readers = require_role("admin", action="read job runs")
executives = require_role("admin", "compliance", "executive", action="see the executive overview")
Days = Query(30, ge=1, le=overview.MAX_DAYS, description="the period: this many days up to now")


def _leads(session: Session, staff: StaffUser, *, include_closed: bool, limit: int) -> list[dict]:
    leads = service.list_leads(session, include_closed=include_closed, limit=limit)
    ids = [lead["id"] for lead in leads]
    # Which records were shown, by id only: the access log itself holds no customer data.
    resource = f"leads {min(ids)}..{max(ids)} ({len(ids)} rows)" if ids else "leads (0 rows)"
    log_access(session, actor=staff.email, role=staff.role, action="read_leads", resource=resource)
    return leads


def _page(request: Request, name: str, settings: Settings, staff: StaffUser, **context):
    return templates.TemplateResponse(
        request, f"dashboard/{name}", {"settings": settings, "staff": staff, **context}
    )


# --- HTML ------------------------------------------------------------------------------
@router.get("/dashboard")
def overview_page(
    request: Request,
    staff: StaffUser = Depends(any_staff),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    return _page(
        request, "overview.html", settings, staff, summary=service.summary(session, now=utcnow())
    )


@router.get("/dashboard/executive")
def executive_page(
    request: Request,
    days: int = Days,
    staff: StaffUser = Depends(executives),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    data = overview.executive(session, now=utcnow(), days=days)
    return _page(request, "executive.html", settings, staff, data=data, charts=_charts(data))


def _charts(data: dict) -> dict:
    """The SVG of each chart; the template prints the same numbers as tables."""
    per_day = data["orders_per_day"]
    labels = [row["day"][5:] for row in per_day]  # MM-DD
    leads = data["leads_per_day"]
    sla = data["response_times"]
    return {
        "revenue": charts.bars("Revenue per day", labels, [row["revenue"] for row in per_day]),
        "orders": charts.bars("Orders per day", labels, [row["orders"] for row in per_day]),
        "leads": charts.lines(
            "Leads per day by kind",
            labels,
            {kind: [row[kind] for row in leads["days"]] for kind in leads["kinds"]},
        ),
        "compliance": charts.lines(
            "Compliance score per audit run (%)",
            [(run["at"] or "")[5:16].replace("T", " ") for run in data["compliance_trend"]],
            {"score": [run["score"] for run in data["compliance_trend"]]},
        ),
        "funnel": charts.funnel(
            "Conversion funnel", [(row["step"], row["count"]) for row in data["funnel"]]
        ),
        "sla": charts.lines(
            "Response time to leads vs SLA (minutes)",
            labels,
            {
                "median first reply": [row["median_minutes"] for row in sla],
                "SLA target": [row["sla_minutes"] for row in sla],
            },
        ),
        "sla_breaches": charts.bars("SLA breaches per day", labels, [r["breaches"] for r in sla]),
    }


@router.get("/dashboard/trends")
def trends_page(
    request: Request,
    days: int = Days,
    staff: StaffUser = Depends(any_staff),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    """Trend score over time per goal, risers and fallers, matched products, source status."""
    now = utcnow()
    scores = history.score_by_goal(session, since=now - timedelta(days=days))
    chart = charts.lines(
        "Trend score per goal, per ingest run",
        [run[5:16].replace("T", " ") for run in scores["runs"]],  # MM-DD HH:MM
        scores["series"],
    )
    return _page(
        request,
        "trends.html",
        settings,
        staff,
        days=days,
        scores=scores,
        chart=chart,
        movers=history.movers(session),
        top=top_trends(session, limit=10, now=now),
        sources=history.source_states(session),
    )


@router.get("/dashboard/leads")
def leads_page(
    request: Request,
    include_closed: bool = False,
    done: str = "",
    staff: StaffUser = Depends(lead_readers),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    return render_leads_page(
        request, session, settings, staff, include_closed=include_closed, done=done
    )


def render_leads_page(
    request: Request,
    session: Session,
    settings: Settings,
    staff: StaffUser,
    *,
    include_closed: bool = False,
    done: str = "",
    error: str = "",
    status_code: int = 200,
):
    """The inbox: leads, their history and (for sales/admin) the action forms."""
    leads = _leads(session, staff, include_closed=include_closed, limit=200)
    response = _page(
        request,
        "leads.html",
        settings,
        staff,
        leads=leads,
        include_closed=include_closed,
        history=inbox.history(session, lead_ids=[lead["id"] for lead in leads]),
        assignable=inbox.assignable_staff(session),
        can_act=staff.role in inbox.ACTING_ROLES,
        csrf=csrf.token_for(request, settings),
        done=done if done in INBOX_NOTICES else "",
        notices=INBOX_NOTICES,
        error=error,
    )
    response.status_code = status_code
    return response


# What the page says after a successful form post (?done=<key>; anything else is ignored).
INBOX_NOTICES = {
    "assign": "Lead assigned.",
    "contacted": "Lead marked as contacted.",
    "close": "Lead closed.",
    "reopen": "Lead reopened.",
    "note": "Note added.",
    "reply": "Reply sent: the outbox delivers it, or the visitor's chat window shows it.",
    "take-over": "You have the chat: the bot stays quiet there (safety answers excepted) "
    "until you hand it back.",
    "hand-back": "Conversation handed back to the bot.",
}


@router.get("/dashboard/leads/{lead_id}/conversation")
def conversation_page(
    lead_id: RowId,
    request: Request,
    staff: StaffUser = Depends(lead_readers),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    """The lead's chat as the customer saw it (emails and phones masked), oldest first."""
    found = transcript.read_for_staff(session, lead_id=lead_id, reader=staff)
    if found is None:
        raise HTTPException(404, f"there is no lead {lead_id}")
    lead, messages = found
    return _page(request, "conversation.html", settings, staff, lead=lead, messages=messages)


@router.get("/dashboard/incidents")
def incidents_page(
    request: Request,
    include_closed: bool = False,
    staff: StaffUser = Depends(incident_readers),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    incidents = service.list_incidents(session, include_closed=include_closed, limit=200)
    return _page(
        request,
        "incidents.html",
        settings,
        staff,
        incidents=incidents,
        include_closed=include_closed,
    )


@router.get("/dashboard/jobs")
def jobs_page(
    request: Request,
    ran: int = Query(0, ge=0, le=MAX_ROW_ID),
    staff: StaffUser = Depends(job_readers),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    """Every registered job with a "Run now" button, and the latest runs."""
    runs = service.list_job_runs(session, limit=200)
    return _page(
        request,
        "jobs.html",
        settings,
        staff,
        runs=runs,
        registered=sorted(registry.load_jobs().values(), key=lambda j: j.name),
        ran=next((run for run in runs if run["id"] == ran), None),
        csrf=csrf.token_for(request, settings),
    )


# --- JSON ------------------------------------------------------------------------------
@router.get("/api/admin/summary")
def summary_api(
    _staff: StaffUser = Depends(any_staff), session: Session = Depends(session_dep)
) -> dict:
    return service.summary(session, now=utcnow())


@router.get("/api/admin/overview")
def overview_api(
    days: int = Days,
    _staff: StaffUser = Depends(executives),
    session: Session = Depends(session_dep),
) -> dict:
    """The executive overview's figures for the period (aggregates only, no personal data)."""
    return overview.executive(session, now=utcnow(), days=days)


REPORTS = {"compliance": reports.compliance_rows, "sales": reports.sales_rows}
REPORT_TITLES = {"compliance": "Compliance report", "sales": "Sales report"}


def report_period(days: int, first: date | None, last: date | None, now: datetime):
    """(end, days): `from`/`to` (whole UTC days, both included) win over `days`."""
    if first is None and last is None:
        return now, days
    last = last or now.date()
    first = first or last - timedelta(days=days - 1)
    if first > last:
        raise HTTPException(422, "'from' must be on or before 'to'")
    span = (last - first).days + 1
    if span > overview.MAX_DAYS:
        raise HTTPException(422, f"the period may be at most {overview.MAX_DAYS} days")
    # Whole days: the period ends at midnight after `to` (KPIs "in the last 24 h" count back
    # from there too).
    return datetime.combine(last + timedelta(days=1), time(0), tzinfo=timezone.utc), span


@router.get(
    "/api/admin/reports/{name}",
    responses={200: {"content": {"text/csv": {}, "application/pdf": {}}}},
)
def report_api(
    name: Literal["compliance", "sales"],
    days: int = Days,
    first: date | None = Query(None, alias="from", description="first day (UTC), YYYY-MM-DD"),
    last: date | None = Query(None, alias="to", description="last day (UTC), YYYY-MM-DD"),
    format: Literal["csv", "json", "pdf"] = "csv",
    staff: StaffUser = Depends(executives),
    session: Session = Depends(session_dep),
):
    """The compliance or sales report for the period (`days` up to now, or `from`..`to`), as
    CSV or PDF (a download) or JSON rows."""
    now = utcnow()
    end, span = report_period(days, first, last, now)
    data = overview.executive(session, now=end, days=span)
    rows = REPORTS[name](data)
    period = data["period"]
    log_access(
        session, actor=staff.email, role=staff.role, action="export_report",
        resource=f"{name} report, " + (
            f"{span} days" if first is None and last is None
            else f"{period['start'][:10]}..{period['end'][:10]}"
        ),
    )  # fmt: skip
    if format == "json":
        return {"report": name, "days": span, "period": period,
                "generated_at": service.iso(now), "rows": rows}  # fmt: skip
    filename = f"{name}-report-{period['start'][:10]}-{period['end'][:10]}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if format == "pdf":
        subtitle = f"{period['start']} to {period['end']} (UTC), generated {service.iso(now)}"
        pdf = reports.to_pdf(REPORT_TITLES[name], subtitle, rows)
        return Response(pdf, media_type="application/pdf", headers=headers)
    return Response(reports.to_csv(rows), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/api/admin/leads")
def leads_api(
    include_closed: bool = False,
    limit: int = Query(100, ge=1, le=500),
    staff: StaffUser = Depends(lead_readers),
    session: Session = Depends(session_dep),
) -> dict:
    return {"leads": _leads(session, staff, include_closed=include_closed, limit=limit)}


@router.get("/api/admin/incidents")
def incidents_api(
    include_closed: bool = False,
    limit: int = Query(100, ge=1, le=500),
    _staff: StaffUser = Depends(incident_readers),
    session: Session = Depends(session_dep),
) -> dict:
    return {
        "incidents": service.list_incidents(session, include_closed=include_closed, limit=limit)
    }


@router.get("/api/admin/jobs")
def jobs_api(
    limit: int = Query(100, ge=1, le=500),
    _staff: StaffUser = Depends(job_readers),
    session: Session = Depends(session_dep),
) -> dict:
    return {"runs": service.list_job_runs(session, limit=limit)}
