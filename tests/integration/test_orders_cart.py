"""The chat cart on migrated SQLite and Postgres: products and bundles with quantities, kept in
the database per conversation, checked out as ONE order with one payment link and one receipt;
stock reserved for every bundle component, never oversold."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from backend.db import session_scope
from backend.orders import cart, service
from backend.orders.models import Cart, CartLine, Order, OrderItem, Receipt
from backend.orders.payments import FakePayments
from tests.integration.orders_support import add_product, pay, stock_of

BUNDLE = "bundle:BP-1+BP-2"


@pytest.fixture(params=["sqlite", "postgres"])
def shop(request, settings):
    factory = request.getfixturevalue(
        "session_factory" if request.param == "sqlite" else "pg_session_factory"
    )
    add_product(factory, sku="BP-1", name="Hibiscus Tea", price_minor=1000, stock=5,
                goals=("blood_pressure",))  # fmt: skip
    add_product(factory, sku="BP-2", name="Beetroot Powder", price_minor=2500, stock=3,
                goals=("blood_pressure", "anti_aging"))  # fmt: skip
    add_product(factory, sku="WL-1", name="Fiber Capsules", price_minor=1999, stock=10,
                goals=("weight_loss",))  # fmt: skip
    return factory, replace(settings, tax_rate_percent="10", bundle_discount_percent=10)


def _add(factory, settings, item, quantity=1, conversation="chat-1"):
    with session_scope(factory) as session:
        return cart.add(
            session, settings=settings, conversation_id=conversation, item=item, quantity=quantity
        )


def _view(factory, settings, conversation="chat-1"):
    with session_scope(factory) as session:
        return cart.view(session, settings=settings, conversation_id=conversation)


def _checkout(factory, settings, payments, conversation="chat-1"):
    with session_scope(factory) as session:
        return cart.checkout(
            session,
            settings=settings,
            payments=payments,
            conversation_id=conversation,
            email="buyer@shop.test",
            contact_id=None,
        )


def test_products_and_a_bundle_price_as_one_cart(shop):
    factory, settings = shop
    _add(factory, settings, "BP-1", 2)
    _add(factory, settings, "WL-1")
    view = _add(factory, settings, "bundle:BP-2+BP-1")  # any order of skus: one spelling
    assert [(line.item, line.quantity) for line in view.lines] == [
        ("BP-1", 2), ("WL-1", 1), (BUNDLE, 1),
    ]  # fmt: skip
    bundle = view.lines[2]
    assert bundle.name == "Bundle: Hibiscus Tea + Beetroot Powder"
    assert bundle.unit_price_minor == 3150  # (1000 + 2500) less 10 %
    assert view.subtotal_minor == 2000 + 1999 + 3150
    assert (view.tax_minor, view.total_minor) == (715, 7864)
    # the same item again adds to its line
    assert _add(factory, settings, "WL-1", 2).lines[1].quantity == 3


def test_the_cart_lives_in_the_database_per_conversation(shop):
    factory, settings = shop
    _add(factory, settings, "BP-1", 2, conversation="chat-1")
    _add(factory, settings, "WL-1", 1, conversation="chat-2")
    # another session (another worker, after a restart) reads the same rows
    assert [line.item for line in _view(factory, settings, "chat-1").lines] == ["BP-1"]
    assert [line.item for line in _view(factory, settings, "chat-2").lines] == ["WL-1"]
    with session_scope(factory) as session:
        assert session.execute(select(Cart.conversation_id).order_by(Cart.id)).scalars().all() == [
            "chat-1", "chat-2",
        ]  # fmt: skip


@pytest.mark.parametrize(
    "item, quantity, message",
    [
        ("BP-2", 4, "Only 3 left of Beetroot Powder."),
        ("NOPE", 1, "NOPE"),
        ("bundle:BP-1+WL-1", 1, "share a wellness goal"),
        ("bundle:BP-1", 1, "two or three different products"),
        ("BP-1", 0, "at least 1"),
    ],
)
def test_what_cannot_be_bought_is_refused_and_the_cart_kept(shop, item, quantity, message):
    factory, settings = shop
    _add(factory, settings, "BP-1")
    with pytest.raises(service.OrderError, match=message):
        _add(factory, settings, item, quantity)
    assert [(line.item, line.quantity) for line in _view(factory, settings).lines] == [("BP-1", 1)]


def test_a_bundle_and_its_product_alone_count_against_one_stock(shop):
    factory, settings = shop
    _add(factory, settings, "BP-2", 2)
    with pytest.raises(service.OrderError, match="Only 3 left of Beetroot Powder"):
        _add(factory, settings, BUNDLE, 2)  # 2 + 2 Beetroot > 3
    _add(factory, settings, BUNDLE, 1)  # 2 + 1 = 3 fits


def test_remove_by_name_or_part_and_empty(shop):
    factory, settings = shop
    _add(factory, settings, "BP-1", 3)
    _add(factory, settings, BUNDLE)
    with session_scope(factory) as session:
        assert cart.find_line(session, conversation_id="chat-1", text="the bundle") == BUNDLE
        assert cart.find_line(session, conversation_id="chat-1", text="hibiscus tea") == "BP-1"
        assert cart.find_line(session, conversation_id="chat-1", text="bp-1") == "BP-1"
        assert cart.find_line(session, conversation_id="chat-1", text="vitamin c") is None
        view = cart.remove(
            session, settings=settings, conversation_id="chat-1", item="BP-1", quantity=2
        )
    assert [(line.item, line.quantity) for line in view.lines] == [("BP-1", 1), (BUNDLE, 1)]
    with session_scope(factory) as session:
        view = cart.remove(session, settings=settings, conversation_id="chat-1", item=BUNDLE)
        assert [line.item for line in view.lines] == ["BP-1"]
        with pytest.raises(service.OrderError, match="isn't in your cart"):
            cart.remove(session, settings=settings, conversation_id="chat-1", item=BUNDLE)
    with session_scope(factory) as session:
        cart.empty(session, conversation_id="chat-1")
    assert _view(factory, settings).empty


def test_checkout_is_one_order_one_link_one_receipt(shop):
    factory, settings = shop
    _add(factory, settings, "BP-1", 2)
    _add(factory, settings, "WL-1")
    _add(factory, settings, BUNDLE)
    payments = FakePayments()
    placed = _checkout(factory, settings, payments)
    assert len(payments.checkouts) == 1
    request = payments.checkouts[0]
    assert [(line.name, line.quantity, line.unit_amount_minor) for line in request.lines] == [
        ("Hibiscus Tea", 2, 1000),
        ("Fiber Capsules", 1, 1999),
        ("Bundle: Hibiscus Tea + Beetroot Powder", 1, 3150),
    ]
    assert placed.total_minor == request.total_minor == 7864
    # stock reserved per product, the bundle's components included; the cart is emptied
    assert (stock_of(factory, "BP-1"), stock_of(factory, "BP-2"), stock_of(factory, "WL-1")) == (
        2, 2, 9,
    )  # fmt: skip
    assert _view(factory, settings).empty
    with session_scope(factory) as session:
        bundle = session.execute(
            select(OrderItem).where(OrderItem.product_id.is_(None))
        ).scalar_one()
        assert bundle.sku == "BP-1+BP-2" and [c["sku"] for c in bundle.components] == [
            "BP-1", "BP-2",
        ]  # fmt: skip
    assert pay(factory, settings, placed.public_id) == "paid"
    assert pay(factory, settings, placed.public_id) == "already paid"
    with session_scope(factory) as session:
        assert session.execute(select(Order.status)).scalars().all() == ["paid"]
        assert len(session.execute(select(Receipt)).all()) == 1


def test_an_empty_cart_cannot_be_checked_out(shop):
    factory, settings = shop
    with pytest.raises(service.OrderError, match="cart is empty"):
        _checkout(factory, settings, FakePayments())


def test_stock_gone_since_adding_is_refused_at_checkout_and_shown(shop):
    factory, settings = shop
    _add(factory, settings, BUNDLE, 3)
    # someone else buys two Beetroot Powders in between
    with session_scope(factory) as session:
        service.place_order(
            session, settings=settings, payments=FakePayments(), items=[("BP-2", 2)],
            email=None, contact_id=None, conversation_id="other",
        )  # fmt: skip
    assert "Only 1 left of Beetroot Powder" in _view(factory, settings).problem
    with pytest.raises(service.OrderError, match="Only 1 left of Beetroot Powder"):
        _checkout(factory, settings, FakePayments())
    assert (stock_of(factory, "BP-1"), stock_of(factory, "BP-2")) == (5, 1)  # nothing taken
    assert [line.item for line in _view(factory, settings).lines] == [BUNDLE]  # cart kept


def test_expiry_gives_every_bundle_component_back(shop):
    factory, settings = shop
    _add(factory, settings, BUNDLE, 2)
    _checkout(factory, settings, FakePayments())
    assert (stock_of(factory, "BP-1"), stock_of(factory, "BP-2")) == (3, 1)
    later = datetime.now(timezone.utc) + timedelta(days=1)
    with session_scope(factory) as session:
        assert service.expire_orders(session, now=later) == 1
        assert service.expire_orders(session, now=later) == 0
    assert (stock_of(factory, "BP-1"), stock_of(factory, "BP-2")) == (5, 3)


def test_cart_lines_are_deleted_with_the_cart(shop):
    factory, settings = shop
    _add(factory, settings, "BP-1")
    with session_scope(factory) as session:
        session.delete(session.execute(select(Cart)).scalar_one())
    with session_scope(factory) as session:
        assert session.execute(select(CartLine)).first() is None
