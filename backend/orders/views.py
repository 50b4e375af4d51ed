"""HTTP routes of the orders area: Stripe webhook, sandbox pay page, receipt download, the
abandoned-checkout reminder's fresh-checkout page."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.api.deps import public_quota, session_dep, settings_dep, webhook_quota
from backend.config import Settings
from backend.logging_setup import log_event
from backend.money import format_minor
from backend.orders import cart, service, webhooks
from backend.orders.models import OrderItem

log = logging.getLogger("backend.orders.views")
HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(
    directory=[str(HERE / "templates"), str(HERE.parent / "api" / "templates")]
)
router = APIRouter()


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": message})


@router.post("/webhooks/stripe", dependencies=[webhook_quota])
async def stripe_webhook(request: Request, settings: Settings = Depends(settings_dep)):
    """Verify at the edge (nothing stored on failure), then one handler call in one transaction."""
    if not settings.configured("stripe_webhook_secret"):
        return _error(503, "Stripe webhooks are not configured on this server")
    payload = await request.body()
    try:
        event = webhooks.verify(
            payload,
            request.headers.get("stripe-signature"),
            settings.stripe_webhook_secret,
            tolerance=settings.stripe_signature_tolerance_seconds,
        )
    except webhooks.BadSignature as exc:
        log_event(log, "webhook refused", logging.WARNING, provider="stripe", reason=str(exc))
        return _error(400, f"invalid webhook signature: {exc}")
    try:
        payment_event = webhooks.to_payment_event(event)
    except webhooks.BadEvent as exc:
        log_event(log, "webhook refused", logging.WARNING, provider="stripe", reason=str(exc))
        return _error(400, f"malformed Stripe event: {exc}")
    if payment_event is None:
        return JSONResponse({"received": True, "outcome": "ignored"})
    session: Session = request.app.state.session_factory()
    try:
        outcome = service.handle_payment_event(session, settings=settings, event=payment_event)
        session.commit()
    except service.RetryLater as exc:
        session.rollback()  # not marked processed: Stripe redelivers later
        return _error(409, str(exc))
    finally:
        session.close()
    return JSONResponse({"received": True, "outcome": outcome})


def _sandbox_order(session: Session, settings: Settings, public_id: str):
    if settings.configured("stripe_secret_key"):
        return None  # with real payments configured the sandbox must not mark orders paid
    try:
        order = service.get_order(session, str(uuid.UUID(public_id)))
    except (ValueError, service.OrderError):
        return None
    return order if order.payment_provider == "sandbox" else None


def _sandbox_page(
    request: Request,
    session: Session,
    settings: Settings,
    order,
    message: str = "",
    status_code: int = 200,
):
    items = session.execute(
        select(OrderItem).where(OrderItem.order_id == order.id).order_by(OrderItem.id)
    ).scalars()
    receipt_url = (
        f"/api/orders/{order.public_id}/receipt.pdf"
        if order.status in service.PAID_STATES
        else None
    )
    return templates.TemplateResponse(
        request,
        "sandbox_pay.html",
        {
            "settings": settings,
            "order": order,
            "items": list(items),
            "message": message,
            "status_text": service.STATUS_TEXT.get(order.status, order.status),
            "receipt_url": receipt_url,
            "money": lambda minor: format_minor(minor, order.currency),
        },
        status_code=status_code,
    )


@router.get("/sandbox/pay/{public_id}", response_class=HTMLResponse, dependencies=[public_quota])
def sandbox_pay_page(
    public_id: str,
    request: Request,
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    order = _sandbox_order(session, settings, public_id)
    if order is None:
        return _error(404, "no such test-mode payment")
    service.expire_orders(session)  # a link past its time shows as expired, as on Stripe
    session.refresh(order)
    return _sandbox_page(request, session, settings, order)


@router.post("/sandbox/pay/{public_id}", response_class=HTMLResponse, dependencies=[public_quota])
def sandbox_pay(
    public_id: str,
    request: Request,
    outcome: str = Form(...),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    """The sandbox's stand-in for Stripe's webhook: the same handler, the same idempotency."""
    order = _sandbox_order(session, settings, public_id)
    if order is None:
        return _error(404, "no such test-mode payment")
    if outcome not in ("pay", "fail"):
        return _error(422, "outcome must be pay or fail")
    service.expire_orders(session)
    session.refresh(order)
    if order.status != "pending_payment":
        return _sandbox_page(
            request, session, settings, order, "This payment link is no longer open.", 409
        )
    event = service.PaymentEvent(
        provider="sandbox",
        # one "pay" per order (a double click is a duplicate); every "fail" is its own event
        event_id=f"sandbox:pay:{order.public_id}"
        if outcome == "pay"
        else f"sandbox:fail:{uuid.uuid4()}",
        kind="completed" if outcome == "pay" else "failed",
        order_public_id=order.public_id,
        payment_ref=f"sandbox_pi_{order.public_id}" if outcome == "pay" else None,
        amount_minor=order.total_minor if outcome == "pay" else None,
        currency=order.currency,
    )
    result = service.handle_payment_event(session, settings=settings, event=event)
    session.refresh(order)
    message = (
        "Payment succeeded (TEST MODE). Your receipt is ready."
        if order.status == "paid"
        else (
            "Payment failed (TEST MODE). Nothing was charged; you can try again."
            if outcome == "fail"
            else result
        )
    )
    return _sandbox_page(request, session, settings, order, message)


@router.get("/api/orders/{public_id}/receipt.pdf", dependencies=[public_quota])
def receipt_pdf(public_id: str, session: Session = Depends(session_dep)):
    """The receipt of a paid order; the unguessable public id is the only key."""
    try:
        number, pdf = service.receipt_pdf(session, public_id=str(uuid.UUID(public_id)))
    except (ValueError, service.OrderError):
        return _error(404, "no receipt for this order")
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{number}.pdf"'},
    )


def _again_page(request: Request, settings: Settings, *, status_code: int = 200, **values):
    return templates.TemplateResponse(
        request,
        "checkout_again.html",
        {"settings": settings, "error": "", "items": [], **values},
        status_code=status_code,
    )


@router.get("/checkout/again/{token}", response_class=HTMLResponse, dependencies=[public_quota])
def checkout_again_page(
    token: str,
    request: Request,
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    """The reminder's link shows the cart; only the button opens an order (link scanners in
    mail clients follow GET links)."""
    try:
        order = service.get_order(session, cart.read_reopen_token(settings, token))
    except (cart.BadReopenToken, service.OrderError):
        return _again_page(request, settings, status_code=404, error="This link is not valid.")
    return _again_page(request, settings, items=service.order_items(session, order=order))


@router.post("/checkout/again/{token}", dependencies=[public_quota])
def checkout_again(
    token: str,
    request: Request,
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    """A new order for the same items (stock re-checked), then on to its payment page."""
    try:
        public_id = cart.read_reopen_token(settings, token)
        placed = cart.checkout_again(
            session, settings=settings, payments=request.app.state.payments, public_id=public_id
        )
    except cart.BadReopenToken as exc:
        return _again_page(request, settings, status_code=404, error=str(exc).capitalize() + ".")
    except service.OrderError as exc:
        session.rollback()
        return _again_page(request, settings, status_code=409, error=str(exc))
    session.commit()
    return RedirectResponse(placed.payment_url, status_code=303)
