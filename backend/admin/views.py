"""Admin API for what admins do (trends, catalog, orders, contacts, CRM, outbox) and the staff
pages for the catalog, orders & receipts and the outbox.

Every route needs a staff login or API key with the right role (table in docs/dashboard.md);
every call is written to the access log; a cookie session must send the page's CSRF token on
POST (an API key needs none). Bad input is a 4xx with a message. Each route makes one service
call of the area that owns the change: jobs run through `jobs.registry.run_job` (with their
job_runs row), refunds through `orders.service.refund`, consent through `contacts.consent`,
CRM pushes and retries through the outbox.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.admin import queries
from backend.admin.queries import iso
from backend.admin.schemas import (
    ContactIn,
    ContactOut,
    CrmLeadIn,
    CrmLeadOut,
    ErasedOut,
    ErrorOut,
    InventoryOut,
    MatchIn,
    MatchOut,
    OrderDetailOut,
    OrdersOut,
    OutboxOut,
    RefundIn,
    RefundOut,
    RetryOut,
    RunOut,
    TrendsOut,
)
from backend.api.deps import MAX_ROW_ID, RowId, session_dep, settings_dep
from backend.auth.models import StaffUser
from backend.auth.service import log_access
from backend.auth.web import StaffRoute, require_role
from backend.config import Settings
from backend.contacts import identity, rights, staff_entry
from backend.contacts.consent import MARKETING_CHANNELS
from backend.contacts.models import Contact
from backend.contacts.service import MARKETING_WORDING, privacy_wording
from backend.contacts.validation import check_email, check_name, check_phone
from backend.contacts.verification import DoubleOptIn
from backend.contacts.views import erase_for_staff
from backend.crm import service as crm
from backend.dashboard import csrf
from backend.dashboard.service import job_run
from backend.db import utcnow
from backend.jobs.views import run_now
from backend.messaging.privacy import verification_sender
from backend.orders import service as orders
from backend.orders.bootstrap import payment_provider
from backend.orders.models import Order
from backend.outbox import queue as outbox
from backend.outbox.models import OutboxMessage
from backend.trends import history
from backend.trends.match import UnknownTopic, score_products
from backend.trends.service import top_trends

templates = Jinja2Templates(
    directory=str(Path(__file__).resolve().parent.parent / "api" / "templates")
)
router = APIRouter(route_class=StaffRoute)

admins = require_role("admin", action="do this (admins only)")
trend_readers = require_role("admin", "compliance", "executive", "sales", action="read trends")
catalog_readers = require_role("admin", "executive", "sales", action="read the catalog")
order_readers = require_role("admin", "compliance", "sales", action="read orders")
contact_enterers = require_role("admin", "sales", action="enter contacts or push them to the CRM")
rights_handlers = require_role("admin", "compliance", action="handle data-subject requests")
outbox_readers = require_role("admin", "compliance", action="read the outbox")

ERRORS = {
    400: {"model": ErrorOut},
    401: {"model": ErrorOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
    409: {"model": ErrorOut},
}
OrderStatus = Literal[
    "pending_payment", "paid", "partially_refunded", "refunded", "cancelled", "expired"
]


def _log(session: Session, staff: StaffUser, action: str, resource: str) -> None:
    log_access(session, actor=staff.email, role=staff.role, action=action, resource=resource)


def posting(role_check):
    """The role check, then (for a cookie session) the page's CSRF token: 401/403 before 403."""

    def dependency(
        request: Request,
        staff: StaffUser = Depends(role_check),
        settings: Settings = Depends(settings_dep),
    ) -> StaffUser:
        csrf.require_header(request, settings)
        return staff

    return dependency


admins_posting = posting(admins)
enterers_posting = posting(contact_enterers)
rights_posting = posting(rights_handlers)


def job_route(path: str, job: str, summary: str) -> None:
    """POST `path` runs `job` now, as the scheduler does, and answers with its job_runs row."""

    def run(
        request: Request,
        staff: StaffUser = Depends(admins_posting),
        session: Session = Depends(session_dep),
        settings: Settings = Depends(settings_dep),
    ):
        return {"run": job_run(run_now(request, session, settings, staff, job))}

    run.__doc__ = f"{summary} now (as the scheduler does) and answer with its job_runs row."
    router.add_api_route(
        path, run, methods=["POST"], name=f"run_{job}", response_model=RunOut, responses=ERRORS
    )


job_route("/api/admin/trends/ingest", "trend_ingest", "Run the trend ingest job")
job_route("/api/admin/catalog/sync", "catalog_sync", "Run the catalog sync job")


# --- trends ------------------------------------------------------------------------------------
@router.get("/api/admin/trends", response_model=TrendsOut, responses=ERRORS)
def trends_api(
    days: int = Query(30, ge=1, le=366, description="history: this many days up to now"),
    limit: int = Query(20, ge=1, le=100),
    staff: StaffUser = Depends(trend_readers),
    session: Session = Depends(session_dep),
):
    """Current trends with matched products, the score history per goal, risers and fallers,
    and each source's status and last error (aggregate signals: no personal data)."""
    now = utcnow()
    _log(session, staff, "read_trends", f"trends, {days} days")
    return {
        "days": days,
        "trends": top_trends(session, limit=limit, now=now),
        "history": history.score_by_goal(session, since=now - timedelta(days=days)),
        "movers": history.movers(session),
        "sources": history.source_states(session),
    }


@router.post("/api/admin/trends/match", response_model=MatchOut, responses=ERRORS)
def trends_match_api(
    body: MatchIn,
    staff: StaffUser = Depends(trend_readers),
    session: Session = Depends(session_dep),
):
    """Score the catalog against free text (as a fresh trend at full volume) or a stored
    trend's topic: the products it matches, best first, with the scorer's explanation."""
    if bool(body.text) == bool(body.topic):
        raise HTTPException(400, "give exactly one of text or topic")
    try:
        found = score_products(
            session, text=body.text, topic=body.topic, limit=body.limit, now=utcnow()
        )
    except UnknownTopic:
        raise HTTPException(404, "no stored trend has this topic (GET /api/admin/trends)") from None
    _log(session, staff, "match_trend", found["scored_as"])
    return found


# --- catalog -----------------------------------------------------------------------------------
@router.get("/api/admin/catalog", response_model=InventoryOut, responses=ERRORS)
def catalog_api(
    staff: StaffUser = Depends(catalog_readers), session: Session = Depends(session_dep)
):
    """Stock of every active product, low stock, and missed demand (out of stock but trending)."""
    _log(session, staff, "read_catalog", "catalog")
    return queries.inventory(session, now=utcnow())


# --- orders ------------------------------------------------------------------------------------
@router.get("/api/admin/orders", response_model=OrdersOut, responses=ERRORS)
def orders_api(
    status: OrderStatus | None = None,
    offset: int = Query(0, ge=0, le=MAX_ROW_ID),
    limit: int = Query(50, ge=1, le=100),
    staff: StaffUser = Depends(order_readers),
    session: Session = Depends(session_dep),
):
    """Orders newest first (optionally of one status), each with its receipt verified against
    the ledger. No customer details: the order's public id links to the receipt."""
    page = queries.list_orders(session, status=status, offset=offset, limit=limit)
    _log(session, staff, "read_orders", f"orders {status or 'all'}, {len(page['orders'])} rows")
    return page


def _order(session: Session, order_id: int) -> dict:
    found = queries.order_detail(session, order_id=order_id)
    if found is None:
        raise HTTPException(404, f"there is no order {order_id}")
    return found


@router.get("/api/admin/orders/{order_id}", response_model=OrderDetailOut, responses=ERRORS)
def order_api(
    order_id: RowId,
    staff: StaffUser = Depends(order_readers),
    session: Session = Depends(session_dep),
):
    """One order with items, payments, invoice, credit notes and its receipt verified."""
    found = _order(session, order_id)
    _log(session, staff, "read_order", f"order {order_id}")
    return found


@router.post(
    "/api/admin/orders/{order_id}/refund",
    response_model=RefundOut,
    responses=ERRORS,
)
def refund_api(
    order_id: RowId,
    body: RefundIn,
    staff: StaffUser = Depends(admins_posting),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    """Refund part or all of a paid order through the payment provider (at most what was paid,
    less earlier refunds); issues a credit note with its ledger entry."""
    order = session.get(Order, order_id)
    if order is None:
        raise HTTPException(404, f"there is no order {order_id}")
    if order.status not in ("paid", "partially_refunded"):
        raise HTTPException(409, f"order {order_id} is {order.status}: nothing to refund")
    _log(session, staff, "refund_order", f"order {order_id}")
    try:
        result = orders.refund(
            session,
            settings=settings,
            payments=payment_provider(settings),
            public_id=order.public_id,
            amount_minor=body.amount_minor,
            reason=body.reason,
        )
    except orders.OrderError as exc:
        raise HTTPException(400, str(exc)) from None
    return result.__dict__


# --- contacts ----------------------------------------------------------------------------------
def _checked(value: str | None, check) -> str | None:
    if not value:
        return None
    result = check(value)
    if not result.ok:
        raise HTTPException(400, result.reason)
    return result.value


@router.post(
    "/api/admin/contacts",
    response_model=ContactOut,
    responses=ERRORS,
    status_code=201,
)
def enter_contact_api(
    body: ContactIn,
    staff: StaffUser = Depends(enterers_posting),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    """A contact staff met (a phone call, the shop): their details and the privacy (and any
    marketing) consent they gave there, recorded with its source and the staff user. Email
    marketing is not recorded: the person is sent the double opt-in link
    (`email_opt_in_sent`), and the consent is recorded when they follow it."""
    unknown = set(body.marketing_channels) - set(MARKETING_CHANNELS)
    if unknown:
        raise HTTPException(400, f"marketing channels are {', '.join(MARKETING_CHANNELS)}")
    email = _checked(body.email, check_email)
    phone = _checked(
        body.phone, lambda raw: check_phone(raw, default_region=settings.default_region)
    )
    try:
        entry = staff_entry.enter_contact(
            session,
            name=_checked(body.name, check_name),
            email=email,
            phone_e164=phone,
            consent_source=body.consent_source,
            marketing_channels=tuple(dict.fromkeys(body.marketing_channels)),
            staff_id=staff.id,
            privacy_wording=privacy_wording(policy_url=settings.privacy_policy_url),
            marketing_wording=MARKETING_WORDING,
            version=settings.privacy_policy_version,
            confirm_email=DoubleOptIn(
                session,
                key=settings.pseudonym_key,
                base_url=settings.public_base_url,
                send=verification_sender(session, settings=settings),
            ),
        )
    except staff_entry.StaffEntryError as exc:
        raise HTTPException(400, str(exc)) from None
    _log(session, staff, "enter_contact", f"contact {entry.contact.public_id}")
    return {
        "id": entry.contact.id,
        "public_id": entry.contact.public_id,
        "created": entry.created,
        "consent_events": [e.id for e in entry.events],
        "email_opt_in_sent": entry.opt_in_sent,
    }


def _contact(session: Session, contact_id: int) -> Contact:
    contact = identity.resolve(session, session.get(Contact, contact_id))
    if contact is None:
        raise HTTPException(404, f"there is no contact {contact_id}")
    return contact


@router.get("/api/admin/contacts/{contact_id}/export", response_model=dict, responses=ERRORS)
def export_contact_api(
    contact_id: RowId,
    staff: StaffUser = Depends(rights_handlers),
    session: Session = Depends(session_dep),
):
    """Everything held about the person (GDPR art. 15/20), by contact id."""
    contact = _contact(session, contact_id)
    data = rights.export(session, contact=contact, requested_by=f"staff:{staff.id}")
    _log(session, staff, "export_contact", f"contact {contact.public_id}")
    return rights.jsonable(data)


@router.post(
    "/api/admin/contacts/{contact_id}/erase",
    response_model=ErasedOut,
    responses=ERRORS,
)
def erase_contact_api(
    contact_id: RowId,
    request: Request,
    staff: StaffUser = Depends(rights_posting),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    """Erase the person across all their records and chats (idempotent: erased is erased)."""
    return erase_for_staff(request, session, settings, staff, _contact(session, contact_id))


@router.post(
    "/api/admin/crm/lead",
    response_model=CrmLeadOut,
    responses=ERRORS,
)
def crm_lead_api(
    body: CrmLeadIn,
    staff: StaffUser = Depends(enterers_posting),
    session: Session = Depends(session_dep),
):
    """Push the contact's consented view to the CRM through the outbox (a view the CRM already
    has is not queued again)."""
    contact = _contact(session, body.contact_id)
    if contact.erased_at is not None:
        raise HTTPException(409, f"contact {body.contact_id} was erased: nothing to push")
    before = session.execute(select(func.max(OutboxMessage.id))).scalar_one()
    message = crm.push_contact(session, contact=contact, cause="details")
    if message is None:
        raise HTTPException(
            409, "this contact has no privacy consent or no details: nothing may go to the CRM"
        )
    _log(session, staff, "push_crm", f"contact {contact.public_id}")
    return {"queued": message.id > (before or 0), "message": queries.outbox_row(message)}


# --- outbox ------------------------------------------------------------------------------------
@router.get("/api/admin/outbox", response_model=OutboxOut, responses=ERRORS)
def outbox_api(
    status: Literal["pending", "sending", "sent", "blocked", "dead"] | None = None,
    kind: str | None = Query(None, pattern=r"^[a-z_]{1,20}$"),
    limit: int = Query(50, ge=1, le=500),
    staff: StaffUser = Depends(outbox_readers),
    session: Session = Depends(session_dep),
):
    """Rows per kind and status, and the latest rows that need a look (pending, dead, blocked;
    or one status): kind, topic, attempts, last error. No recipient, no payload."""
    _log(session, staff, "read_outbox", f"outbox {status or 'open'} {kind or 'all kinds'}")
    return queries.outbox_overview(session, status=status, kind=kind, limit=limit)


def retry_message(session: Session, staff: StaffUser, message_id: int) -> OutboxMessage:
    if session.get(OutboxMessage, message_id) is None:
        raise HTTPException(404, f"there is no outbox message {message_id}")
    try:
        message = outbox.requeue(session, message_id=message_id)
    except outbox.OutboxError as exc:
        raise HTTPException(409, str(exc)) from None
    _log(session, staff, "retry_outbox", f"outbox message {message_id}")
    return message


@router.post(
    "/api/admin/outbox/{message_id}/retry",
    response_model=RetryOut,
    responses=ERRORS,
)
def outbox_retry_api(
    message_id: RowId,
    staff: StaffUser = Depends(admins_posting),
    session: Session = Depends(session_dep),
):
    """Put a dead or blocked message back in the queue (attempts from zero)."""
    return {"message": queries.outbox_row(retry_message(session, staff, message_id))}


# --- pages -------------------------------------------------------------------------------------
def _page(request: Request, name: str, settings: Settings, staff: StaffUser, **context):
    return templates.TemplateResponse(
        request, f"dashboard/{name}", {"settings": settings, "staff": staff, **context}
    )


@router.get("/dashboard/catalog", response_class=HTMLResponse, include_in_schema=False)
def catalog_page(
    request: Request,
    staff: StaffUser = Depends(catalog_readers),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    """Stock, low stock and missed demand; admins get the "Sync catalog now" button."""
    _log(session, staff, "read_catalog", "catalog page")
    return _page(
        request,
        "catalog.html",
        settings,
        staff,
        data=queries.inventory(session, now=utcnow()),
        csrf=csrf.token_for(request, settings),
    )


@router.get("/dashboard/orders", response_class=HTMLResponse, include_in_schema=False)
def orders_page(
    request: Request,
    status: OrderStatus | None = None,
    offset: int = Query(0, ge=0, le=MAX_ROW_ID),
    staff: StaffUser = Depends(order_readers),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    """Orders & receipts: status, payment, receipt verified ✓/✗, download link."""
    page = queries.list_orders(session, status=status, offset=offset, limit=50)
    _log(session, staff, "read_orders", f"orders page {status or 'all'}, offset {offset}")
    return _page(
        request, "orders.html", settings, staff, page=page, status=status,
        statuses=queries.ORDER_STATUSES,
    )  # fmt: skip


@router.get("/dashboard/outbox", response_class=HTMLResponse, include_in_schema=False)
def outbox_page(
    request: Request,
    retried: int = Query(0, ge=0, le=MAX_ROW_ID),
    staff: StaffUser = Depends(outbox_readers),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    """Pending and dead rows by kind, the last errors, and "Retry" for admins."""
    _log(session, staff, "read_outbox", "outbox page")
    return _page(
        request, "outbox.html", settings, staff,
        data=queries.outbox_overview(session, limit=200),
        retried=retried, can_retry=staff.role == "admin", csrf=csrf.token_for(request, settings),
        now=iso(utcnow()),
    )  # fmt: skip


@router.post("/dashboard/outbox/{message_id}/retry", include_in_schema=False)
def outbox_retry_form(
    message_id: RowId,
    request: Request,
    csrf_token: str = Form("", alias="csrf"),
    staff: StaffUser = Depends(admins),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    csrf.require_form(request, settings, csrf_token)
    retry_message(session, staff, message_id)
    return RedirectResponse(f"/dashboard/outbox?retried={message_id}", status_code=303)
