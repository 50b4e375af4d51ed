"""Orders use cases: quote, place (reserve stock + payment link), status, payment events,
expiry/cancel (release stock) and refunds.

Services flush and never commit: the caller (chat action, web view, CLI, job) commits once.
An OrderError leaves reserved stock in the session: the caller must roll back (session_scope and
the API's session dependency do).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend import bus, ledger
from backend.catalog.models import Product
from backend.config import Settings
from backend.events import CheckoutExpired, OrderPaid
from backend.incidents import Incident, raise_incident
from backend.integrations import IntegrationError
from backend.logging_setup import log_event
from backend.orders import issuing
from backend.orders.models import (
    CreditNote,
    Invoice,
    Order,
    OrderItem,
    Payment,
    PaymentDispute,
    ProcessedWebhookEvent,
    Receipt,
)
from backend.orders.payments import CheckoutLine, CheckoutRequest, PaymentProvider

log = logging.getLogger("backend.orders")

MAX_QUANTITY = 99
# A bundle is 2-3 different products sharing a wellness goal, sold as one line at
# BUNDLE_DISCOUNT_PERCENT off their sum; its cart/order key is "bundle:" + skus joined by "+".
BUNDLE_PREFIX = "bundle:"
BUNDLE_SIZES = (2, 3)
PAID_STATES = ("paid", "partially_refunded", "refunded")
STATUS_TEXT = {
    "pending_payment": "awaiting payment",
    "paid": "paid, receipt sent",
    "partially_refunded": "partially refunded",
    "refunded": "refunded",
    "expired": "payment link expired",
    "cancelled": "cancelled",
}


class OrderError(Exception):
    """A business rule refused the request; the message can be shown to the customer."""


class RetryLater(Exception):
    """A payment event arrived before the state it depends on; the provider should redeliver."""


@dataclass(frozen=True)
class QuoteLine:
    sku: str  # a bundle: its products' skus joined by "+"
    name: str
    quantity: int
    unit_price_minor: int
    line_total_minor: int
    components: tuple[str, ...] = ()  # a bundle's skus (one of each per unit of the line)

    @property
    def item(self) -> str:
        """The line's cart key: the sku, or the bundle key."""
        return bundle_key(self.components) if self.components else self.sku


@dataclass(frozen=True)
class Quote:
    lines: list[QuoteLine]
    subtotal_minor: int
    tax_minor: int
    total_minor: int
    currency: str


@dataclass(frozen=True)
class PlacedOrder:
    public_id: str
    payment_url: str
    total_minor: int
    currency: str
    expires_at: datetime


@dataclass(frozen=True)
class OrderStatusView:
    public_id: str
    status: str
    status_text: str
    total_minor: int
    currency: str
    created_at: datetime


@dataclass(frozen=True)
class PaymentEvent:
    """A provider event in our terms (Stripe webhook and sandbox page both produce these)."""

    provider: str
    event_id: str
    kind: str  # completed | expired | failed | refunded
    order_public_id: str
    payment_ref: str | None = None  # Stripe: payment_intent (else the session id)
    amount_minor: int | None = None  # completed: amount paid
    currency: str | None = None
    refunded_total_minor: int | None = None  # refunded: cumulative amount refunded
    refund_ref: str | None = None
    dispute_ref: str | None = None  # dispute: the provider's dispute id
    dispute_status: str | None = None
    dispute_reason: str | None = None
    recovery_url: str | None = None  # expired: the provider's page that re-opens the checkout


@dataclass(frozen=True)
class RefundResult:
    credit_note_number: str
    amount_minor: int
    currency: str
    order_status: str


def tax_minor(subtotal_minor: int, rate_percent: str) -> int:
    """The one tax rounding rule: percentage of the subtotal, rounded half up to a minor unit."""
    return int(
        (Decimal(subtotal_minor) * Decimal(rate_percent) / 100).quantize(
            Decimal(1), rounding=ROUND_HALF_UP
        )
    )


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return (
        value.replace(tzinfo=timezone.utc)
        if value.tzinfo is None
        else value.astimezone(timezone.utc)
    )


# --- quote and place ------------------------------------------------------------------
def bundle_key(skus) -> str:
    """The one spelling of a bundle (its skus sorted), whatever order they were given in."""
    return BUNDLE_PREFIX + "+".join(sorted({str(s).strip() for s in skus}))


def bundle_skus(item: str) -> tuple[str, ...]:
    """The skus of a bundle key; () for a plain product sku."""
    if not item.lower().startswith(BUNDLE_PREFIX):
        return ()
    return tuple(sorted({s.strip() for s in item[len(BUNDLE_PREFIX) :].split("+") if s.strip()}))


def _canonical(item: str) -> str:
    skus = bundle_skus(item)
    return bundle_key(skus) if skus else item


def _normalise(items: list[tuple[str, int]]) -> dict[str, int]:
    wanted: dict[str, int] = {}
    for sku, quantity in items:
        try:
            quantity = int(quantity)
        except (TypeError, ValueError):
            raise OrderError("Please give the quantity as a whole number.") from None
        if quantity < 1:
            raise OrderError("The quantity must be at least 1.")
        key = _canonical(str(sku).strip())
        wanted[key] = wanted.get(key, 0) + quantity
        if wanted[key] > MAX_QUANTITY:
            raise OrderError(f"You can order at most {MAX_QUANTITY} of one product at a time.")
    if not wanted:
        raise OrderError("Your basket is empty.")
    return wanted


def _stock_message(product: Product) -> str:
    if product.stock <= 0:
        return f"Sorry, {product.name} is out of stock."
    return f"Only {product.stock} left of {product.name}."


def _bundle_line(
    settings: Settings, products: dict[str, Product], skus: tuple[str, ...], quantity: int
) -> QuoteLine:
    if len(skus) not in BUNDLE_SIZES:
        raise OrderError("A bundle is two or three different products.")
    parts = [_sold(products, sku) for sku in skus]
    if len({p.currency for p in parts}) > 1:
        raise OrderError("These products are priced in different currencies.")
    if not set.intersection(*(set(p.goals or []) for p in parts)):
        raise OrderError(
            "Those products don't make a bundle (a bundle's products share a wellness goal)."
        )
    full = sum(p.price_minor for p in parts)
    unit = int(
        (Decimal(full) * (100 - settings.bundle_discount_percent) / 100).quantize(
            Decimal(1), rounding=ROUND_HALF_UP
        )
    )
    name = "Bundle: " + " + ".join(p.name for p in parts)
    return QuoteLine("+".join(skus), name[:200], quantity, unit, unit * quantity, skus)


def _sold(products: dict[str, Product], sku: str) -> Product:
    product = products.get(sku)
    if product is None or not product.active:
        raise OrderError(f"Sorry, we don't sell a product with the code {sku}.")
    return product


def quote(
    session: Session, *, settings: Settings, items: list[tuple[str, int]], check_stock: bool = True
) -> Quote:
    """Price a basket of products and bundles from the catalog (no reservation); raises
    OrderError with the reason (unknown product, not enough stock for all lines together)."""
    wanted = _normalise(items)
    skus = {sku for item in wanted for sku in (bundle_skus(item) or (item,))}
    products = {
        p.sku: p for p in session.execute(select(Product).where(Product.sku.in_(skus))).scalars()
    }
    lines = []
    needed: dict[str, int] = {}
    for item, quantity in wanted.items():
        parts = bundle_skus(item)
        if parts:
            lines.append(_bundle_line(settings, products, parts, quantity))
        else:
            product = _sold(products, item)
            lines.append(
                QuoteLine(
                    product.sku,
                    product.name,
                    quantity,
                    product.price_minor,
                    product.price_minor * quantity,
                )
            )
        for sku in parts or (item,):
            needed[sku] = needed.get(sku, 0) + quantity
    for sku, quantity in needed.items() if check_stock else ():
        if products[sku].stock < quantity:
            raise OrderError(_stock_message(products[sku]))
    currencies = {products[sku].currency for sku in needed}
    if len(currencies) > 1:
        raise OrderError(
            "These products are priced in different currencies; please order them separately."
        )
    subtotal = sum(line.line_total_minor for line in lines)
    tax = tax_minor(subtotal, settings.tax_rate_percent)
    return Quote(
        lines=lines,
        subtotal_minor=subtotal,
        tax_minor=tax,
        total_minor=subtotal + tax,
        currency=currencies.pop(),
    )


def _reserve(session: Session, product_id: int, quantity: int) -> bool:
    # Compare-and-set: the row lock (Postgres) / the write transaction (SQLite) makes it atomic.
    result = session.execute(
        update(Product)
        .where(Product.id == product_id, Product.stock >= quantity)
        .values(stock=Product.stock - quantity)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _stock_needs(items: list[OrderItem]) -> list[tuple[int, int]]:
    """(product id, units) the items hold, a bundle's components counted, in id order (rows
    are always locked in id order so two multi-item orders never deadlock each other)."""
    needs: dict[int, int] = {}
    for item in items:
        parts = item.components or [{"product_id": item.product_id, "quantity": 1}]
        for part in parts:
            units = int(part["quantity"]) * item.quantity
            needs[int(part["product_id"])] = needs.get(int(part["product_id"]), 0) + units
    return sorted(needs.items())


def _release(session: Session, order: Order) -> None:
    for product_id, units in _stock_needs(_items(session, order)):
        session.execute(
            update(Product)
            .where(Product.id == product_id)
            .values(stock=Product.stock + units)
            .execution_options(synchronize_session=False)
        )


def _items(session: Session, order: Order) -> list[OrderItem]:
    return list(
        session.execute(
            select(OrderItem).where(OrderItem.order_id == order.id).order_by(OrderItem.id)
        ).scalars()
    )


def place_order(
    session: Session,
    *,
    settings: Settings,
    payments: PaymentProvider,
    items: list[tuple[str, int]],
    email: str | None,
    contact_id: int | None,
    conversation_id: str | None,
    recovered_from_id: int | None = None,
) -> PlacedOrder:
    """Reserve stock (each component of a bundle), create ONE order for all items and open one
    payment page; raises OrderError."""
    priced = quote(session, settings=settings, items=items)
    skus = {sku for line in priced.lines for sku in (line.components or (line.sku,))}
    products = {
        p.sku: p for p in session.execute(select(Product).where(Product.sku.in_(skus))).scalars()
    }
    order_items = [_order_item(line, products) for line in priced.lines]
    for product_id, units in _stock_needs(order_items):
        if not _reserve(session, product_id, units):
            product = next(p for p in products.values() if p.id == product_id)
            session.refresh(product)
            raise OrderError(_stock_message(product))
    expires_at = _now() + timedelta(minutes=settings.payment_link_minutes)
    order = Order(
        public_id=str(uuid.uuid4()),
        contact_id=contact_id,
        conversation_id=conversation_id,
        email=email,
        status="pending_payment",
        currency=priced.currency,
        subtotal_minor=priced.subtotal_minor,
        tax_minor=priced.tax_minor,
        total_minor=priced.total_minor,
        payment_provider=payments.name,
        expires_at=expires_at,
        recovered_from_id=recovered_from_id,
    )
    session.add(order)
    session.flush()
    for item in order_items:
        item.order_id = order.id
    session.add_all(order_items)
    request = CheckoutRequest(
        order_public_id=order.public_id,
        currency=order.currency,
        lines=tuple(
            CheckoutLine(line.name, line.quantity, line.unit_price_minor) for line in priced.lines
        ),
        tax_minor=order.tax_minor,
        total_minor=order.total_minor,
        email=email,
        expires_at=expires_at,
    )
    try:
        ref, url, provider_expiry = payments.create_checkout(request)
    except IntegrationError as exc:
        log_event(
            log, "checkout failed", logging.WARNING, provider=payments.name, permanent=exc.permanent
        )
        raise OrderError(
            "The payment page could not be opened just now; please try again in a minute."
        ) from exc
    order.payment_ref, order.payment_url, order.expires_at = ref, url, provider_expiry
    session.flush()
    log_event(log, "order placed", order=order.public_id, total_minor=order.total_minor)
    return PlacedOrder(order.public_id, url, order.total_minor, order.currency, provider_expiry)


def _order_item(line: QuoteLine, products: dict[str, Product]) -> OrderItem:
    components = [
        {"product_id": products[sku].id, "sku": sku, "quantity": 1} for sku in line.components
    ]
    return OrderItem(
        product_id=None if components else products[line.sku].id,
        sku=line.sku,
        name=line.name,
        unit_price_minor=line.unit_price_minor,
        quantity=line.quantity,
        line_total_minor=line.line_total_minor,
        components=components or None,
    )


def order_items(session: Session, *, order: Order) -> list[OrderItem]:
    return _items(session, order)


def order_lines(session: Session, *, order: Order) -> list[tuple[str, int]]:
    """An order's items as cart lines (sku or bundle key, quantity): to check out again."""
    return [
        (
            bundle_key(c["sku"] for c in item.components) if item.components else item.sku,
            item.quantity,
        )
        for item in _items(session, order)
    ]


# --- status ---------------------------------------------------------------------------
def order_status(
    session: Session,
    *,
    conversation_id: str | None = None,
    public_id: str | None = None,
) -> list[OrderStatusView]:
    """Orders of a conversation (newest first) or the one with `public_id`."""
    if not conversation_id and not public_id:
        return []
    query = select(Order).order_by(Order.created_at.desc(), Order.id.desc()).limit(20)
    if public_id:
        query = query.where(Order.public_id == public_id)
    if conversation_id:
        query = query.where(Order.conversation_id == conversation_id)
    return [
        OrderStatusView(
            o.public_id,
            o.status,
            STATUS_TEXT.get(o.status, o.status),
            o.total_minor,
            o.currency,
            _utc(o.created_at),
        )
        for o in session.execute(query).scalars()
    ]


def get_order(session: Session, public_id: str, *, lock: bool = False) -> Order:
    query = select(Order).where(Order.public_id == public_id)
    order = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if order is None:
        raise OrderError(f"There is no order {public_id}.")
    return order


# --- expiry and cancel ----------------------------------------------------------------
def _close_unpaid(session: Session, order: Order, status: str) -> bool:
    """pending_payment → status and stock back, exactly once (compare-and-set on the status)."""
    result = session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status == "pending_payment")
        .values(status=status, updated_at=_now())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    _release(session, order)
    session.refresh(order)
    if status == "expired":  # an abandoned checkout: messaging may remind (bootstrap.py)
        bus.publish(session, CheckoutExpired(order_id=order.id, contact_id=order.contact_id))
    return True


def cancel_order(session: Session, *, public_id: str) -> OrderStatusView:
    order = get_order(session, public_id, lock=True)
    if order.status != "pending_payment":
        raise OrderError(
            f"This order is {STATUS_TEXT.get(order.status, order.status)} and cannot be cancelled."
        )
    _close_unpaid(session, order, "cancelled")
    return order_status(session, public_id=public_id)[0]


def expire_orders(session: Session, *, now: datetime | None = None, limit: int = 500) -> int:
    """Expire unpaid orders whose payment link ran out and give their stock back."""
    now = now or _now()
    due = (
        session.execute(
            select(Order)
            .where(Order.status == "pending_payment", Order.expires_at < now)
            .order_by(Order.id)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    return sum(_close_unpaid(session, order, "expired") for order in due)


# --- payment events (Stripe webhook and sandbox page) -----------------------------------
def handle_payment_event(session: Session, *, settings: Settings, event: PaymentEvent) -> str:
    """Apply one provider event exactly once; returns what happened (for logs and replies).

    Raises RetryLater when the event depends on one not yet seen (a refund before the payment).
    """
    if session.execute(
        select(ProcessedWebhookEvent.id).where(
            ProcessedWebhookEvent.provider == event.provider,
            ProcessedWebhookEvent.event_id == event.event_id,
        )
    ).first():
        return "duplicate event"
    try:
        with session.begin_nested():
            session.add(
                ProcessedWebhookEvent(
                    provider=event.provider, event_id=event.event_id, event_type=event.kind
                )
            )
    except IntegrityError:
        return "duplicate event"  # the same event, handled concurrently by another worker
    order = _event_order(session, event)
    if order is None:
        if event.kind == "dispute":
            _incident(
                session,
                "dispute_without_payment",
                "critical",
                event.order_public_id or str(event.payment_ref),
                {"provider": event.provider, "dispute": event.dispute_ref},
            )
        if event.kind == "completed":
            _incident(
                session,
                "payment_without_order",
                "critical",
                event.order_public_id,
                {"provider": event.provider, "payment_ref": event.payment_ref},
            )
        return "unknown order"
    handler = {
        "completed": _on_completed,
        "expired": _on_expired,
        "failed": _on_failed,
        "refunded": _on_refunded,
        "dispute": _on_dispute,
    }.get(event.kind)
    if handler is None:
        return "ignored"
    outcome = handler(session, settings, order, event)
    log_event(
        log,
        "payment event",
        provider=event.provider,
        kind=event.kind,
        order=order.public_id,
        outcome=outcome,
    )
    return outcome


def _event_order(session: Session, event: PaymentEvent) -> Order | None:
    """The event's order, locked: by public id, else (disputes name only the payment) through
    the payment's provider reference."""
    query = select(Order).with_for_update()
    if event.order_public_id:
        return session.execute(
            query.where(Order.public_id == event.order_public_id)
        ).scalar_one_or_none()
    if event.payment_ref:
        return session.execute(
            query.join(Payment, Payment.order_id == Order.id).where(
                Payment.provider_ref == event.payment_ref
            )
        ).scalar_one_or_none()
    return None


def _incident(
    session: Session, kind: str, severity: str, order_public_id: str, detail: dict
) -> None:
    raise_incident(
        session,
        Incident(
            kind=kind,
            severity=severity,
            entity_type="order",
            entity_id=order_public_id,
            detail=detail,
        ),
    )


def _on_completed(session: Session, settings: Settings, order: Order, event: PaymentEvent) -> str:
    payment_ref = event.payment_ref or order.payment_ref or f"{event.provider}:{order.public_id}"
    if (
        order.status in PAID_STATES
        or session.execute(select(Payment.id).where(Payment.provider_ref == payment_ref)).first()
    ):
        return "already paid"
    items = _items(session, order)
    if order.status in ("expired", "cancelled"):
        # Paid after the link expired here (or through the provider's recovery page): take
        # the stock again where it is still there.
        taken = [_reserve(session, product_id, units) for product_id, units in _stock_needs(items)]
        if not all(taken):
            _incident(
                session,
                "paid_without_stock",
                "critical",
                order.public_id,
                {"previous_status": order.status},
            )
    if event.amount_minor is not None and event.amount_minor != order.total_minor:
        _incident(
            session,
            "payment_amount_mismatch",
            "critical",
            order.public_id,
            {"expected_minor": order.total_minor, "paid_minor": event.amount_minor},
        )
    payment = Payment(
        order_id=order.id,
        provider=event.provider,
        provider_ref=payment_ref,
        amount_minor=order.total_minor if event.amount_minor is None else event.amount_minor,
        currency=(event.currency or order.currency).upper(),
        status="succeeded",
    )
    session.add(payment)
    session.flush()
    invoice = issuing.issue_invoice(session, settings=settings, order=order, items=items)
    issuing.issue_receipt(
        session, settings=settings, order=order, items=items, invoice=invoice, payment=payment
    )
    order.status = "paid"
    session.flush()
    # The receipt email is scheduled in this transaction (see backend/bootstrap.py).
    bus.publish(session, OrderPaid(order_id=order.id, contact_id=order.contact_id))
    return "paid"


def _on_expired(session: Session, settings: Settings, order: Order, event: PaymentEvent) -> str:
    if event.recovery_url and order.status in ("pending_payment", "expired"):
        # kept even when our expiry job closed the order first: the reminder reads it when due
        order.recovery_url = event.recovery_url
        session.flush()
    return "expired" if _close_unpaid(session, order, "expired") else f"ignored ({order.status})"


def _on_failed(session: Session, settings: Settings, order: Order, event: PaymentEvent) -> str:
    return (
        "payment failed; order still open"
        if order.status == "pending_payment"
        else f"ignored ({order.status})"
    )


def _on_refunded(session: Session, settings: Settings, order: Order, event: PaymentEvent) -> str:
    if order.status not in PAID_STATES:
        raise RetryLater(f"refund for order {order.public_id} before its payment")
    delta = (event.refunded_total_minor or 0) - order.refunded_minor
    if delta <= 0:
        return "refund already recorded"
    refundable = refundable_minor(session, order)
    if delta > refundable:
        # Never a credit note above what was paid: record what can be true, flag the rest.
        _incident(
            session,
            "refund_exceeds_payment",
            "critical",
            order.public_id,
            {
                "provider": event.provider,
                "reported_refunded_minor": event.refunded_total_minor,
                "paid_minor": _paid_minor(session, order),
                "already_refunded_minor": order.refunded_minor,
                "credited_minor": max(refundable, 0),
            },
        )
        if refundable <= 0:
            return "refund above the payment; nothing left to credit"
        delta = refundable
    ref = event.refund_ref or f"{event.payment_ref}:refunded:{event.refunded_total_minor}"
    _record_refund(session, settings, order, delta, ref, "refunded at the payment provider")
    return order.status


def _paid_minor(session: Session, order: Order) -> int:
    return session.execute(
        select(func.coalesce(func.sum(Payment.amount_minor), 0)).where(
            Payment.order_id == order.id, Payment.status == "succeeded"
        )
    ).scalar_one()


def refundable_minor(session: Session, order: Order) -> int:
    """What can still be refunded: what was paid (at most the invoice total) minus refunds."""
    return min(_paid_minor(session, order), order.total_minor) - order.refunded_minor


# --- disputes (chargebacks) -----------------------------------------------------------
DISPUTE_CLOSED = ("won", "lost", "warning_closed", "charge_refunded")


def _on_dispute(session: Session, settings: Settings, order: Order, event: PaymentEvent) -> str:
    """Record the dispute on the order; open an incident when it starts; ledger every change
    of where the money stands (held by the card network, returned, or lost)."""
    dispute = session.execute(
        select(PaymentDispute).where(PaymentDispute.provider_ref == event.dispute_ref)
    ).scalar_one_or_none()
    now = _now()
    if dispute is None:
        dispute = PaymentDispute(
            order_id=order.id,
            provider=event.provider,
            provider_ref=event.dispute_ref,
            payment_ref=event.payment_ref,
            amount_minor=event.amount_minor or 0,
            currency=(event.currency or order.currency).upper(),
            reason=(event.dispute_reason or "")[:60] or None,
            status=event.dispute_status,
            opened_at=now,
            updated_at=now,
        )
        session.add(dispute)
        session.flush()
        _incident(
            session,
            "payment_disputed",
            "critical",
            order.public_id,
            {
                "provider": event.provider,
                "dispute": dispute.provider_ref,
                "amount_minor": dispute.amount_minor,
                "reason": dispute.reason,
                "status": dispute.status,
            },
        )
        _ledger_dispute(session, order, dispute, "opened")
        return f"dispute {dispute.status}"
    if dispute.order_id != order.id:
        return "ignored (dispute belongs to another order)"
    if dispute.status == event.dispute_status:
        return "dispute unchanged"
    dispute.status = event.dispute_status
    dispute.updated_at = now
    if event.amount_minor is not None:
        dispute.amount_minor = event.amount_minor
    if dispute.status in DISPUTE_CLOSED and dispute.closed_at is None:
        dispute.closed_at = now
        _ledger_dispute(session, order, dispute, f"closed_{dispute.status}")
    session.flush()
    return f"dispute {dispute.status}"


def _ledger_dispute(session: Session, order: Order, dispute: PaymentDispute, action: str) -> None:
    ledger.append(
        session,
        entity_type="payment_dispute",
        entity_id=dispute.provider_ref,
        action=action,
        record={
            "order": order.public_id,
            "dispute": dispute.provider_ref,
            "payment_ref": dispute.payment_ref,
            "amount_minor": dispute.amount_minor,
            "currency": dispute.currency,
            "status": dispute.status,
        },
    )


# --- refunds --------------------------------------------------------------------------
def _record_refund(
    session: Session,
    settings: Settings,
    order: Order,
    amount_minor: int,
    provider_ref: str,
    reason: str | None,
) -> CreditNote:
    invoice = session.execute(select(Invoice).where(Invoice.order_id == order.id)).scalar_one()
    note = issuing.issue_credit_note(
        session,
        settings=settings,
        order=order,
        invoice=invoice,
        amount_minor=amount_minor,
        provider_ref=provider_ref,
        reason=reason,
    )
    order.refunded_minor += amount_minor
    order.status = "refunded" if order.refunded_minor >= order.total_minor else "partially_refunded"
    session.flush()
    return note


def refund(
    session: Session,
    *,
    settings: Settings,
    payments: PaymentProvider,
    public_id: str,
    amount_minor: int | None,
    reason: str,
) -> RefundResult:
    """Refund part (amount) or all (None) of a paid order; issues a credit note."""
    order = get_order(session, public_id, lock=True)
    if order.status not in ("paid", "partially_refunded"):
        raise OrderError(
            f"This order is {STATUS_TEXT.get(order.status, order.status)}; nothing to refund."
        )
    remaining = refundable_minor(session, order)
    amount = remaining if amount_minor is None else int(amount_minor)
    if not 0 < amount <= remaining:
        raise OrderError(f"The refund must be between 1 and {remaining} (minor units).")
    payment = (
        session.execute(
            select(Payment)
            .where(Payment.order_id == order.id, Payment.status == "succeeded")
            .order_by(Payment.id)
        )
        .scalars()
        .first()
    )
    try:
        ref = payments.refund(
            payment_ref=payment.provider_ref,
            amount_minor=amount,
            currency=order.currency,
            order_public_id=order.public_id,
            refund_key=f"{order.public_id}-{order.refunded_minor}-{amount}",
        )
    except IntegrationError as exc:
        raise OrderError(f"The payment provider refused the refund: {exc.message}") from exc
    note = _record_refund(session, settings, order, amount, ref, reason)
    return RefundResult(note.number, amount, order.currency, order.status)


def receipt_pdf(session: Session, *, public_id: str) -> tuple[str, bytes]:
    """(receipt number, PDF bytes) of a paid order; OrderError when there is none."""
    row = session.execute(
        select(Receipt.number, Receipt.pdf)
        .join(Order, Order.id == Receipt.order_id)
        .where(Order.public_id == public_id)
    ).first()
    if row is None:
        raise OrderError("There is no receipt for this order yet.")
    return row.number, row.pdf


def count_for_contact(session: Session, contact_id: int) -> int:
    """How many orders a contact has (the right of access shows the number)."""
    return len(session.execute(select(Order.id).where(Order.contact_id == contact_id)).all())
