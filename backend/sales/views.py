"""Inbox actions over HTTP: JSON under /api/admin/leads/{id}/…, HTML forms under /dashboard/leads.

Views are thin: each one is a single call into backend.sales.inbox; domain errors become clear
answers (404 unknown lead, 400 bad input, 403 read-only role, 409 not allowed in this status or
refused by the send gate), never a 500. A session-cookie
request must carry the page's CSRF token (form field `csrf` or header X-CSRF-Token); an API key
needs none.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from backend.api.deps import MAX_ROW_ID, RowId, session_dep, settings_dep
from backend.auth.models import StaffUser
from backend.auth.service import log_access
from backend.auth.web import StaffRoute, require_role
from backend.config import Settings
from backend.dashboard import csrf
from backend.dashboard.service import iso
from backend.dashboard.views import render_leads_page, templates
from backend.goals import GOALS
from backend.sales import assignment, inbox, transcript
from backend.sales.models import Lead

router = APIRouter(route_class=StaffRoute)
actors = require_role(*inbox.ACTING_ROLES, action="act on leads (read-only role)")
readers = require_role(*inbox.ACTING_ROLES, action="read leads (personal data)")

ERROR_STATUS = {
    inbox.LeadNotFound: 404,
    inbox.InvalidInput: 400,
    inbox.NotAllowed: 403,
    inbox.InvalidTransition: 409,
    inbox.ReplyRefused: 409,
}


def _feed(request: Request):
    """Where replies are pushed to open chat windows (create_app sets it)."""
    return getattr(request.app.state, "chat_feed", None)


def _status(exc: inbox.InboxError) -> int:
    return next((code for cls, code in ERROR_STATUS.items() if isinstance(exc, cls)), 400)


def _lead(lead: Lead) -> dict:
    return {
        "id": lead.id,
        "kind": lead.kind,
        "priority": lead.priority,
        "status": lead.status,
        "assigned_to": lead.assigned_to,
        "sla_due_at": iso(lead.sla_due_at),
    }


class AssignIn(BaseModel):
    staff_id: int | None = Field(None, ge=1, le=MAX_ROW_ID)  # default: the caller


class NoteIn(BaseModel):
    note: str | None = None


class CloseIn(BaseModel):
    reason: str


class TextIn(BaseModel):
    text: str


class ReplyIn(BaseModel):
    text: str
    channel: str | None = None  # default: the first channel the send gate allows
    subject: str | None = None  # email only


def _act(request: Request, settings: Settings, call):
    """Run one inbox action for the JSON API, mapping domain errors to 4xx/5xx answers."""
    csrf.require_header(request, settings)
    try:
        return call()
    except inbox.InboxError as exc:
        raise HTTPException(_status(exc), str(exc)) from None


# --- JSON ------------------------------------------------------------------------------------


@router.post("/api/admin/leads/{lead_id}/assign")
def assign_api(
    lead_id: RowId,
    request: Request,
    body: AssignIn | None = None,
    staff: StaffUser = Depends(actors),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
) -> dict:
    to = body.staff_id if body else None
    lead = _act(
        request,
        settings,
        lambda: inbox.assign(session, lead_id=lead_id, actor=staff, to_staff_id=to),
    )
    return {"lead": _lead(lead)}


@router.post("/api/admin/leads/{lead_id}/contacted")
def contacted_api(
    lead_id: RowId,
    request: Request,
    body: NoteIn | None = None,
    staff: StaffUser = Depends(actors),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
) -> dict:
    note = body.note if body else None
    lead = _act(
        request,
        settings,
        lambda: inbox.mark_contacted(session, lead_id=lead_id, actor=staff, note=note),
    )
    return {"lead": _lead(lead)}


@router.post("/api/admin/leads/{lead_id}/close")
def close_api(
    lead_id: RowId,
    body: CloseIn,
    request: Request,
    staff: StaffUser = Depends(actors),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
) -> dict:
    lead = _act(
        request,
        settings,
        lambda: inbox.close(session, lead_id=lead_id, actor=staff, reason=body.reason),
    )
    return {"lead": _lead(lead)}


@router.post("/api/admin/leads/{lead_id}/reopen")
def reopen_api(
    lead_id: RowId,
    request: Request,
    body: NoteIn | None = None,
    staff: StaffUser = Depends(actors),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
) -> dict:
    note = body.note if body else None
    lead = _act(
        request, settings, lambda: inbox.reopen(session, lead_id=lead_id, actor=staff, note=note)
    )
    return {"lead": _lead(lead)}


@router.post("/api/admin/leads/{lead_id}/notes")
def note_api(
    lead_id: RowId,
    body: TextIn,
    request: Request,
    staff: StaffUser = Depends(actors),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
) -> dict:
    activity = _act(
        request,
        settings,
        lambda: inbox.add_note(session, lead_id=lead_id, actor=staff, text=body.text),
    )
    return {"activity_id": activity.id}


@router.post("/api/admin/leads/{lead_id}/reply")
def reply_api(
    lead_id: RowId,
    body: ReplyIn,
    request: Request,
    staff: StaffUser = Depends(actors),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
) -> dict:
    result = _act(
        request,
        settings,
        lambda: inbox.reply(
            session,
            settings=settings,
            lead_id=lead_id,
            actor=staff,
            text=body.text,
            channel=body.channel,
            subject=body.subject,
            feed=_feed(request),
        ),
    )
    if result.chat_reply is not None:  # shown in the web chat window when it next asks
        message = {"id": result.chat_reply.id, "channel": result.channel, "status": "stored"}
    else:
        message = {
            "id": result.message.id,
            "channel": result.channel,
            "status": result.message.status,
        }
    return {"lead": _lead(result.lead), "message": message}


@router.post("/api/admin/leads/{lead_id}/take-over")
def take_over_api(
    lead_id: RowId,
    request: Request,
    staff: StaffUser = Depends(actors),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
) -> dict:
    lead = _act(request, settings, lambda: inbox.take_over(session, lead_id=lead_id, actor=staff))
    return {"lead": _lead(lead), "bot_paused": True}


@router.post("/api/admin/leads/{lead_id}/hand-back")
def hand_back_api(
    lead_id: RowId,
    request: Request,
    staff: StaffUser = Depends(actors),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
) -> dict:
    lead = _act(
        request,
        settings,
        lambda: inbox.hand_back(
            session,
            lead_id=lead_id,
            actor=staff,
            feed=_feed(request),
        ),
    )
    return {"lead": _lead(lead), "handed_back": True}


@router.get("/api/admin/leads/{lead_id}/activity")
def activity_api(
    lead_id: RowId,
    staff: StaffUser = Depends(readers),
    session: Session = Depends(session_dep),
) -> dict:
    if session.get(Lead, lead_id) is None:
        raise HTTPException(404, f"there is no lead {lead_id}")
    log_access(
        session, actor=staff.email, role=staff.role, action="read_lead_activity",
        resource=f"lead {lead_id}",
    )  # fmt: skip
    return {"activity": inbox.history(session, lead_ids=[lead_id])[lead_id]}


@router.get("/api/admin/leads/{lead_id}/conversation")
def conversation_api(
    lead_id: RowId,
    staff: StaffUser = Depends(readers),
    session: Session = Depends(session_dep),
) -> dict:
    """What was said in the lead's chat (customer, bot, team), emails and phones masked."""
    found = transcript.read_for_staff(session, lead_id=lead_id, reader=staff)
    if found is None:
        raise HTTPException(404, f"there is no lead {lead_id}")
    return {"messages": found[1]}


# --- HTML forms --------------------------------------------------------------------------------

FORM_ACTIONS = (
    "assign", "take-over", "contacted", "close", "reopen", "note", "reply", "hand-back",
)  # fmt: skip


@router.post("/dashboard/leads/{lead_id}/{action}")
def lead_form(
    lead_id: RowId,
    action: str,
    request: Request,
    csrf_token: str = Form("", alias="csrf"),
    staff_id: str = Form(""),
    reason: str = Form(""),
    text: str = Form(""),
    channel: str = Form(""),
    subject: str = Form(""),
    staff: StaffUser = Depends(actors),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    def page(error: str, status: int):
        session.rollback()  # nothing of a refused action is kept
        return render_leads_page(
            request, session, settings, staff, include_closed=True, error=error,
            status_code=status,
        )  # fmt: skip

    if action not in FORM_ACTIONS:
        raise HTTPException(404, "unknown action")
    if not csrf.valid(request, settings, csrf_token):
        return page("This form expired or did not come from this dashboard; nothing changed. "
                    "Please try again.", 400)  # fmt: skip
    try:
        _form_action(session, settings, staff, lead_id, action, staff_id=staff_id,
                     reason=reason, text=text, channel=channel, subject=subject,
                     feed=_feed(request))  # fmt: skip
    except inbox.InboxError as exc:
        return page(f"Lead {lead_id}: {exc}", _status(exc))
    closed = "&include_closed=true" if action in ("close", "reopen") else ""
    return RedirectResponse(
        f"/dashboard/leads?done={action}{closed}#lead-{lead_id}", status_code=303
    )


def _form_action(session, settings, staff, lead_id, action, **form) -> None:
    if action == "assign":
        raw = form["staff_id"].strip()
        if raw and not raw.isdigit():
            raise inbox.InvalidInput("choose a staff user to assign")
        inbox.assign(session, lead_id=lead_id, actor=staff, to_staff_id=int(raw) if raw else None)
    elif action == "take-over":
        inbox.take_over(session, lead_id=lead_id, actor=staff)
    elif action == "contacted":
        inbox.mark_contacted(session, lead_id=lead_id, actor=staff, note=form["text"] or None)
    elif action == "close":
        inbox.close(session, lead_id=lead_id, actor=staff, reason=form["reason"])
    elif action == "reopen":
        inbox.reopen(session, lead_id=lead_id, actor=staff, note=form["text"] or None)
    elif action == "note":
        inbox.add_note(session, lead_id=lead_id, actor=staff, text=form["text"])
    elif action == "reply":
        inbox.reply(
            session, settings=settings, lead_id=lead_id, actor=staff, text=form["text"],
            channel=form["channel"] or None, subject=form["subject"] or None, feed=form["feed"],
        )  # fmt: skip
    else:
        inbox.hand_back(session, lead_id=lead_id, actor=staff, feed=form["feed"])


# --- lead routing: what each sales user covers (admins) ---------------------------------------

coverage_admins = require_role("admin", action="change lead routing")


class CoverageIn(BaseModel):
    goals: list[str] = Field(default_factory=list, max_items=len(GOALS))
    regions: list[str] = Field(
        default_factory=list,
        max_items=assignment.MAX_REGIONS,
        description="ISO country codes (GB) or IANA time zones (Europe/London)",
    )
    active: bool = True


def _coverage_error(exc: assignment.CoverageError) -> HTTPException:
    return HTTPException(404 if isinstance(exc, assignment.StaffNotFound) else 400, str(exc))


@router.get("/api/admin/staff/coverage")
def coverage_list_api(
    _staff: StaffUser = Depends(coverage_admins), session: Session = Depends(session_dep)
) -> dict:
    """Every sales/admin user's goals, regions, active flag and open leads."""
    return {"staff": assignment.coverage_view(session)}


@router.get("/api/admin/staff/{staff_id}/coverage")
def coverage_api(
    staff_id: RowId,
    _staff: StaffUser = Depends(coverage_admins),
    session: Session = Depends(session_dep),
) -> dict:
    try:
        rows = assignment.coverage_view(session, staff_id=staff_id)
    except assignment.CoverageError as exc:
        raise _coverage_error(exc) from None
    if not rows:
        raise HTTPException(400, f"staff user {staff_id} is not a sales or admin user")
    return rows[0]


@router.put("/api/admin/staff/{staff_id}/coverage")
def set_coverage_api(
    staff_id: RowId,
    body: CoverageIn,
    request: Request,
    _staff: StaffUser = Depends(coverage_admins),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
) -> dict:
    """Replace what this user covers; new leads are routed by it from now on."""
    csrf.require_header(request, settings)
    try:
        assignment.set_coverage(
            session, staff_id=staff_id, goals=body.goals, regions=body.regions, active=body.active
        )
    except assignment.CoverageError as exc:
        raise _coverage_error(exc) from None
    return assignment.coverage_view(session, staff_id=staff_id)[0]


@router.get("/dashboard/team")
def team_page(
    request: Request,
    done: int = Query(0, ge=0, le=MAX_ROW_ID),
    staff: StaffUser = Depends(coverage_admins),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    return _team_page(request, session, settings, staff, done=done)


def _team_page(request, session, settings, staff, *, done=0, error="", status_code=200):
    """The Team page: each sales/admin user's coverage form, open leads, last routed."""
    return templates.TemplateResponse(
        request,
        "dashboard/team.html",
        {
            "settings": settings, "staff": staff, "rows": assignment.coverage_view(session),
            "goals": GOALS, "csrf": csrf.token_for(request, settings), "done": done,
            "error": error,
        },
        status_code=status_code,
    )  # fmt: skip


@router.post("/dashboard/team/{staff_id}/coverage")
def team_form(
    staff_id: RowId,
    request: Request,
    csrf_token: str = Form("", alias="csrf"),
    goals: list[str] = Form([]),
    regions: str = Form(""),
    active: str = Form(""),
    staff: StaffUser = Depends(coverage_admins),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    """The team page's form: goals as checkboxes, regions comma- or space-separated."""
    if not csrf.valid(request, settings, csrf_token):
        return _team_page(request, session, settings, staff, status_code=400,
                          error="This form expired or did not come from this dashboard; nothing "
                          "changed. Please try again.")  # fmt: skip
    try:
        assignment.set_coverage(
            session, staff_id=staff_id, goals=goals, active=active == "on",
            regions=regions.replace(",", " ").split()[: assignment.MAX_REGIONS + 1],
        )  # fmt: skip
    except assignment.CoverageError as exc:
        session.rollback()
        status = 404 if isinstance(exc, assignment.StaffNotFound) else 400
        return _team_page(
            request, session, settings, staff, error=f"Staff {staff_id}: {exc}", status_code=status
        )
    return RedirectResponse(f"/dashboard/team?done={staff_id}#staff-{staff_id}", status_code=303)
