"""The chat's cart: products and bundles with quantities, kept per conversation in the database
(a restart or another worker sees the same cart), checked out as ONE order with one payment
link; and the fresh checkout of an abandoned order (the reminder's link).

Every change is priced with `service.quote` over the whole cart first, so a cart never holds
more than is in stock at the time; checkout reserves it (`service.place_order`). Functions
flush and never commit; an OrderError leaves the cart as it was once the caller rolls back.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.catalog.models import Product
from backend.config import Settings
from backend.db import utcnow
from backend.logging_setup import log_event
from backend.orders import service
from backend.orders.models import Cart, CartLine, Order
from backend.orders.payments import PaymentProvider
from backend.orders.service import OrderError, PlacedOrder, QuoteLine

log = logging.getLogger("backend.orders.cart")
MAX_LINES = 20


@dataclass(frozen=True)
class CartView:
    lines: list[QuoteLine]
    subtotal_minor: int
    tax_minor: int
    total_minor: int
    currency: str
    problem: str | None = None  # why the cart cannot be bought as it stands (stock changed)

    @property
    def empty(self) -> bool:
        return not self.lines


EMPTY = CartView([], 0, 0, 0, "USD")


def _cart(session: Session, conversation_id: str, *, create: bool = False) -> Cart | None:
    """The conversation's cart, row-locked (two workers change one cart one after the other)."""
    query = select(Cart).where(Cart.conversation_id == conversation_id).with_for_update()
    cart = session.execute(query).scalar_one_or_none()
    if cart is None and create:
        try:
            with session.begin_nested():
                cart = Cart(conversation_id=conversation_id)
                session.add(cart)
        except IntegrityError:  # created by another worker a moment ago
            cart = session.execute(query).scalar_one()
    return cart


def _lines(session: Session, cart: Cart | None) -> list[CartLine]:
    if cart is None:
        return []
    return list(
        session.execute(
            select(CartLine).where(CartLine.cart_id == cart.id).order_by(CartLine.id)
        ).scalars()
    )


def _priced(session: Session, settings: Settings, lines: list[CartLine]) -> CartView:
    if not lines:
        return EMPTY
    items = [(line.item, line.quantity) for line in lines]
    try:
        q = service.quote(session, settings=settings, items=items)
        return CartView(q.lines, q.subtotal_minor, q.tax_minor, q.total_minor, q.currency)
    except OrderError as whole:
        # Something changed since it was added (stock, catalog): show what still prices.
        priced, currency = [], EMPTY.currency
        for item in items:
            try:  # priced as it stands, stock aside; a product no longer sold drops out
                one = service.quote(session, settings=settings, items=[item], check_stock=False)
            except OrderError:
                continue
            priced.extend(one.lines)
            currency = one.currency
        subtotal = sum(line.line_total_minor for line in priced)
        return CartView(priced, subtotal, 0, subtotal, currency, problem=str(whole))


def view(
    session: Session,
    *,
    settings: Settings,
    conversation_id: str,
    extra: tuple[tuple[str, int], ...] = (),
) -> CartView:
    """The cart as it would be charged now (with `extra` items about to be added)."""
    lines = _lines(session, _cart(session, conversation_id))
    lines += [CartLine(item=item, quantity=int(quantity)) for item, quantity in extra]
    return _priced(session, settings, lines)


def add(
    session: Session, *, settings: Settings, conversation_id: str, item: str, quantity: int = 1
) -> CartView:
    """Add `quantity` of a product sku or bundle key; OrderError when the whole cart could not
    be bought then (unknown product, not enough stock, too many lines)."""
    item = service.bundle_key(service.bundle_skus(item)) if service.bundle_skus(item) else item
    cart = _cart(session, conversation_id, create=True)
    lines = _lines(session, cart)
    existing = next((line for line in lines if line.item == item), None)
    if existing is None and len(lines) >= MAX_LINES:
        raise OrderError(f"A cart holds at most {MAX_LINES} different items.")
    wanted = [(line.item, line.quantity) for line in lines] + [(item, quantity)]
    service.quote(session, settings=settings, items=wanted)  # raises with the reason
    if existing is None:
        session.add(CartLine(cart_id=cart.id, item=item, quantity=int(quantity)))
    else:
        existing.quantity += int(quantity)
    cart.updated_at = utcnow()
    session.flush()
    log_event(log, "cart changed", action="add", lines=len(lines) + (existing is None))
    return view(session, settings=settings, conversation_id=conversation_id)


def find_line(session: Session, *, conversation_id: str, text: str) -> str | None:
    """The cart item a customer means ("the bundle", "omega", a sku): its key, else None."""
    lines = _lines(session, _cart(session, conversation_id))
    wanted = text.strip().lower()
    for line in lines:
        if line.item.lower() == wanted or line.item.lower() == f"{service.BUNDLE_PREFIX}{wanted}":
            return line.item
    words = set(re.findall(r"[a-z0-9]+", wanted)) - {"the", "of", "my", "a", "an", "x"}
    if not words:
        return None
    scored = []
    for line, priced in zip(lines, _names(session, lines), strict=True):
        name_words = set(re.findall(r"[a-z0-9]+", priced.lower()))
        # most words in common, then the fewest words not asked for ("tea" is the tea, not
        # the bundle holding it)
        scored.append((len(words & name_words), -len(name_words - words), line.item))
    best = max(scored, default=(0, 0, None))
    return best[2] if best[0] > 0 else None


def _names(session: Session, lines: list[CartLine]) -> list[str]:
    skus = {sku for line in lines for sku in (service.bundle_skus(line.item) or (line.item,))}
    names = dict(
        session.execute(select(Product.sku, Product.name).where(Product.sku.in_(skus))).all()
    )
    out = []
    for line in lines:
        parts = service.bundle_skus(line.item)
        label = " ".join(names.get(sku, sku) for sku in parts or (line.item,))
        out.append(f"bundle {label}" if parts else label)
    return out


def remove(
    session: Session,
    *,
    settings: Settings,
    conversation_id: str,
    item: str,
    quantity: int | None = None,
) -> CartView:
    """Take `quantity` (all when None) of an item out; OrderError when it is not in the cart."""
    cart = _cart(session, conversation_id)
    line = next((line for line in _lines(session, cart) if line.item == item), None)
    if line is None:
        raise OrderError("That isn't in your cart.")
    if quantity is None or int(quantity) >= line.quantity:
        session.delete(line)
    elif int(quantity) < 1:
        raise OrderError("The quantity must be at least 1.")
    else:
        line.quantity -= int(quantity)
    session.flush()
    log_event(log, "cart changed", action="remove")
    return view(session, settings=settings, conversation_id=conversation_id)


def empty(session: Session, *, conversation_id: str) -> None:
    cart = _cart(session, conversation_id)
    if cart is not None:
        session.execute(delete(CartLine).where(CartLine.cart_id == cart.id))
        session.flush()


def checkout(
    session: Session,
    *,
    settings: Settings,
    payments: PaymentProvider,
    conversation_id: str,
    email: str | None,
    contact_id: int | None,
) -> PlacedOrder:
    """ONE order and one payment link for the whole cart; the cart is emptied with it."""
    lines = _lines(session, _cart(session, conversation_id))
    if not lines:
        raise OrderError("Your cart is empty.")
    placed = service.place_order(
        session,
        settings=settings,
        payments=payments,
        items=[(line.item, line.quantity) for line in lines],
        email=email,
        contact_id=contact_id,
        conversation_id=conversation_id,
    )
    empty(session, conversation_id=conversation_id)
    return placed


def checkout_again(
    session: Session, *, settings: Settings, payments: PaymentProvider, public_id: str
) -> PlacedOrder:
    """A fresh order for the items of an expired one (stock and prices checked now); the
    same link clicked twice gives the same open order, never a second one."""
    order = service.get_order(session, public_id, lock=True)
    if order.status != "expired":
        raise OrderError(
            "This checkout is "
            f"{service.STATUS_TEXT.get(order.status, order.status)}: nothing to reopen."
        )
    reopened = session.execute(
        select(Order).where(Order.recovered_from_id == order.id, Order.status == "pending_payment")
    ).scalar_one_or_none()
    if reopened is not None:
        return PlacedOrder(
            reopened.public_id,
            reopened.payment_url,
            reopened.total_minor,
            reopened.currency,
            reopened.expires_at,
        )
    return service.place_order(
        session,
        settings=settings,
        payments=payments,
        items=service.order_lines(session, order=order),
        email=order.email,
        contact_id=order.contact_id,
        conversation_id=order.conversation_id,
        recovered_from_id=order.id,
    )


# --- the abandoned-checkout reminder's link --------------------------------------------------
REOPEN_SALT = "checkout-again"


class BadReopenToken(ValueError):
    """The link was not made by this shop (edited, forged or cut short)."""


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.session_secret, salt=REOPEN_SALT)


def reopen_url(settings: Settings, *, order: Order) -> str:
    """The reminder's link: a page that opens a fresh checkout of the order's items."""
    token = _serializer(settings).dumps({"o": order.public_id})
    return f"{settings.public_base_url.rstrip('/')}/checkout/again/{token}"


def read_reopen_token(settings: Settings, token: str) -> str:
    """The order public id a valid link names; BadReopenToken otherwise."""
    try:
        data = _serializer(settings).loads(token)
    except BadSignature:
        raise BadReopenToken("this checkout link is not valid") from None
    if not isinstance(data, dict) or not isinstance(data.get("o"), str):
        raise BadReopenToken("this checkout link is not valid")
    return data["o"]


def reminder_context(session: Session, *, settings: Settings, follow_up, contact) -> dict:
    """Values of the `checkout_reminder` message: the expired order's items and total, and
    the provider's recovery page when it gave one (Stripe), else our fresh-checkout link."""
    from backend.contacts.lookup import first_name
    from backend.money import format_minor

    order = session.get(Order, follow_up.order_id) if follow_up.order_id else None
    if order is None:
        return {"first_name": first_name(contact)}
    items = service.order_items(session, order=order)
    return {
        "first_name": first_name(contact),
        "total": format_minor(order.total_minor, order.currency),
        "items": [{"name": i.name, "quantity": i.quantity} for i in items],
        "checkout_url": order.recovery_url or reopen_url(settings, order=order),
    }
