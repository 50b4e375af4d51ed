"""Data-subject rights for staff (admin API, compliance/admin roles, every read access-logged)
and the double opt-in confirmation link (GET shows a button: link scanners confirm nothing)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from backend.api.deps import session_dep, settings_dep
from backend.auth.models import StaffUser
from backend.auth.service import log_access
from backend.auth.web import StaffRoute, require_role
from backend.config import Settings
from backend.contacts import rights, verification
from backend.contacts.service import find_contact
from backend.contacts.validation import check_email, check_phone
from backend.privacy.registry import scrub_storage

router = APIRouter(route_class=StaffRoute)
compliance = require_role("admin", "compliance", action="handle data-subject requests")
PURPOSES = ("marketing", "transactional", "health_data", "privacy")
CHANNELS = ("email", "sms", "whatsapp", "chat")


class Person(BaseModel):
    email: str | None = None
    phone: str | None = None


class Withdrawal(Person):
    purpose: str = "marketing"
    channels: list[str] = ["email", "sms", "whatsapp"]


def _person(session: Session, settings: Settings, who: Person):
    if bool(who.email) == bool(who.phone):
        raise HTTPException(400, "give exactly one of email or phone")
    checked = (
        check_email(who.email[:400])
        if who.email
        else check_phone(who.phone[:40], default_region=settings.default_region)
    )
    if not checked.ok:
        raise HTTPException(400, checked.reason)
    contact = find_contact(
        session,
        email=checked.value if who.email else None,
        phone_e164=None if who.email else checked.value,
    )
    if contact is None:
        raise HTTPException(404, "no contact with that email/phone (or it was erased)")
    return contact


@router.get("/api/admin/contacts/export")
def export_api(
    email: str | None = None,
    phone: str | None = None,
    format: str = "json",  # noqa: A002 - the query parameter's name
    staff: StaffUser = Depends(compliance),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    """Everything held about the person (GDPR art. 15/20): JSON, or `format=html`."""
    if format not in ("json", "html"):
        raise HTTPException(400, "format must be json or html")
    contact = _person(session, settings, Person(email=email, phone=phone))
    data = rights.export(session, contact=contact, requested_by=f"staff:{staff.id}")
    log_access(
        session, actor=staff.email, role=staff.role, action="export_contact",
        resource=f"contact {contact.public_id}",
    )  # fmt: skip
    if format == "html":
        return HTMLResponse(rights.export_html(data))
    return JSONResponse(rights.jsonable(data))


@router.post("/api/admin/contacts/erase")
def erase_api(
    who: Person,
    request: Request,
    staff: StaffUser = Depends(compliance),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
) -> dict:
    """Erase the person across all their records and chats (idempotent: erased is erased)."""
    return erase_for_staff(request, session, settings, staff, _person(session, settings, who))


def erase_for_staff(
    request: Request, session: Session, settings: Settings, staff: StaffUser, contact
) -> dict:
    """Erase the person, log who did, commit, then scrub the freed storage."""
    result = rights.erase(
        session,
        contact=contact,
        key=settings.pseudonym_key,
        version=settings.privacy_policy_version,
        source="staff",
    )
    log_access(
        session, actor=staff.email, role=staff.role, action="erase_contact",
        resource=f"contact {contact.public_id}",
    )  # fmt: skip
    session.commit()
    scrub_storage(request.app.state.session_factory.kw["bind"])
    return {
        "request_id": result.request_id,
        "records": result.contacts,
        "conversations": result.conversations,
    }


@router.post("/api/admin/contacts/withdraw")
def withdraw_api(
    body: Withdrawal,
    staff: StaffUser = Depends(compliance),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
) -> dict:
    """Withdraw a purpose on channels for the person (idempotent: repeats record nothing)."""
    if body.purpose not in PURPOSES or not body.channels or set(body.channels) - set(CHANNELS):
        raise HTTPException(400, f"purpose in {PURPOSES}, channels within {CHANNELS}")
    contact = _person(session, settings, body)
    events = rights.withdraw(
        session,
        contact=contact,
        purpose=body.purpose,
        channels=tuple(body.channels),
        source="api",
        wording=f"Withdrawn on request (handled by staff): {body.purpose}.",
        version=settings.privacy_policy_version,
    )
    return {"withdrawn": [e.channel for e in events]}


# --- the person's own copy (link shown in a chat that proved it is them) ---------------------


@router.get("/my-data/{token}")
def my_data(
    token: str,
    format: str = "html",  # noqa: A002 - the query parameter's name
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    contact = rights.contact_for_export_token(
        session, key=settings.pseudonym_key, token=token[:500]
    )
    if contact is None:
        return HTMLResponse(
            _PAGE.format(
                title="Link expired",
                body="<p>This link is not valid any more: ask for your data again in the chat.</p>",
            ),
            status_code=404,
        )
    data = rights.export(session, contact=contact, requested_by="person")
    if format == "json":
        return JSONResponse(
            rights.jsonable(data),
            headers={"Content-Disposition": 'attachment; filename="my-data.json"'},
        )
    return HTMLResponse(rights.export_html(data))


# --- double opt-in link (public) -------------------------------------------------------------

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family:sans-serif;margin:2em"><h1>{title}</h1>{body}</body></html>"""


@router.get("/confirm-subscription/{token}", response_class=HTMLResponse)
def confirm_page(token: str):
    return HTMLResponse(
        _PAGE.format(
            title="Confirm your subscription",
            body="<p>Receive occasional offers and wellness tips by email?</p>"
            '<form method="post"><button type="submit" id="confirm">Yes, subscribe me</button>'
            "</form>",
        )
    )


@router.post("/confirm-subscription/{token}", response_class=HTMLResponse)
def confirm(
    token: str,
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    try:
        verification.confirm_double_opt_in(
            session,
            key=settings.pseudonym_key,
            token=token[:1000],
            version=settings.privacy_policy_version,
        )
    except verification.VerificationError as exc:
        return HTMLResponse(
            _PAGE.format(title="Link not valid", body=f"<p>{exc}.</p>"), status_code=400
        )
    return HTMLResponse(
        _PAGE.format(
            title="Subscribed",
            body="<p id='done'>Thanks: you will receive offers and tips by email. Every email "
            "has an unsubscribe link.</p>",
        )
    )
