"""Helpers shared by the orders tests (not a test module)."""

from __future__ import annotations

import uuid

from backend.catalog.models import Product
from backend.db import session_scope
from backend.orders import service
from backend.orders.payments import FakePayments


def add_product(
    factory,
    *,
    sku="DCP-1",
    name="Diabetes Care Pack",
    price_minor=2999,
    stock=10,
    currency="USD",
    goals=("diabetes",),
) -> None:
    with session_scope(factory) as session:
        session.add(
            Product(
                sku=sku,
                name=name,
                category="packs",
                price_minor=price_minor,
                currency=currency,
                stock=stock,
                goals=list(goals),
            )
        )


def stock_of(factory, sku="DCP-1") -> int:
    with session_scope(factory) as session:
        return session.query(Product).filter_by(sku=sku).one().stock


def place(factory, settings, *, items=(("DCP-1", 1),), payments=None, conversation_id="conv-1"):
    with session_scope(factory) as session:
        return service.place_order(
            session,
            settings=settings,
            payments=payments or FakePayments(),
            items=list(items),
            email="buyer@shop.test",
            contact_id=None,
            conversation_id=conversation_id,
        )


def pay(
    factory, settings, public_id, *, event_id=None, provider="sandbox", amount_minor=None
) -> str:
    with session_scope(factory) as session:
        order = service.get_order(session, public_id)
        return service.handle_payment_event(
            session,
            settings=settings,
            event=service.PaymentEvent(
                provider=provider,
                event_id=event_id or f"evt_{uuid.uuid4().hex}",
                kind="completed",
                order_public_id=public_id,
                payment_ref=f"pi_{public_id}",
                amount_minor=order.total_minor if amount_minor is None else amount_minor,
                currency="USD",
            ),
        )


def paid_order(factory, settings, *, quantity=1):
    placed = place(factory, settings, items=(("DCP-1", quantity),))
    pay(factory, settings, placed.public_id)
    return placed
