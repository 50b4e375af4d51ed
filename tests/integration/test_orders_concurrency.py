"""200 concurrent order attempts for 10 units, and one event delivered 10 times at once,
against real SQLite and (when TEST_POSTGRES_URL is set) real Postgres."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from backend.catalog.models import Product
from backend.db import make_engine, make_session_factory, session_scope
from backend.orders import service
from backend.orders.models import Order, Payment, Receipt
from backend.orders.payments import FakePayments
from tests.integration.orders_support import add_product, place

ATTEMPTS, STOCK = 200, 10


@pytest.fixture(params=["sqlite", "postgres"])
def factory(request, tmp_path):
    if request.param == "sqlite":
        engine_fixture = request.getfixturevalue("engine")
        yield make_session_factory(engine_fixture)
        return
    pg_engine = request.getfixturevalue("pg_engine")
    wide = make_engine(
        pg_engine.url.render_as_string(hide_password=False), pool_size=20, max_overflow=20
    )
    yield make_session_factory(wide)
    wide.dispose()


def test_two_hundred_concurrent_orders_never_oversell(factory, settings):
    add_product(factory, stock=STOCK)
    start, done = threading.Barrier(ATTEMPTS), threading.Event()
    seen_stock: list[int] = []

    def watch():
        while not done.is_set():
            with factory() as s:
                seen_stock.append(s.execute(select(Product.stock)).scalar_one())
                s.rollback()

    def attempt(_):
        start.wait()
        try:
            with session_scope(factory) as session:
                service.place_order(
                    session,
                    settings=settings,
                    payments=FakePayments(),
                    items=[("DCP-1", 1)],
                    email=None,
                    contact_id=None,
                    conversation_id=None,
                )
            return "ok"
        except service.OrderError as exc:
            return str(exc)

    watcher = threading.Thread(target=watch)
    watcher.start()
    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        results = list(pool.map(attempt, range(ATTEMPTS)))
    done.set()
    watcher.join()
    assert results.count("ok") == STOCK
    assert set(results) - {"ok"} == {"Sorry, Diabetes Care Pack is out of stock."}
    with factory() as s:
        assert s.execute(select(Product.stock)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(Order)).scalar_one() == STOCK
    assert seen_stock and min(seen_stock) >= 0


def test_one_event_delivered_ten_times_at_once_pays_once(factory, settings):
    add_product(factory, stock=STOCK)
    placed = place(factory, settings)
    event = service.PaymentEvent(
        provider="stripe",
        event_id="evt_same",
        kind="completed",
        order_public_id=placed.public_id,
        payment_ref="pi_same",
        amount_minor=placed.total_minor,
        currency="USD",
    )
    start = threading.Barrier(10)

    def deliver(_):
        start.wait()
        with session_scope(factory) as session:
            return service.handle_payment_event(session, settings=settings, event=event)

    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(deliver, range(10)))
    assert sorted(outcomes) == ["duplicate event"] * 9 + ["paid"]
    with factory() as s:
        assert s.execute(select(func.count()).select_from(Payment)).scalar_one() == 1
        assert s.execute(select(func.count()).select_from(Receipt)).scalar_one() == 1


def test_concurrent_cart_checkouts_with_bundles_never_oversell_a_component(factory, settings):
    """Every cart holds a bundle (A+B) and one more B: B runs out after STOCK / 2 checkouts."""
    from dataclasses import replace

    from backend.orders import cart

    add_product(factory, sku="A", name="Tea", stock=100, goals=("blood_pressure",))
    add_product(factory, sku="B", name="Beet", stock=STOCK, goals=("blood_pressure",))
    settings = replace(settings, bundle_discount_percent=10)
    carts = [f"chat-{n}" for n in range(20)]
    for chat in carts:  # each cart alone fits the stock when it is filled
        with session_scope(factory) as session:
            cart.add(session, settings=settings, conversation_id=chat, item="bundle:A+B")
            cart.add(session, settings=settings, conversation_id=chat, item="B")
    start = threading.Barrier(len(carts))

    def checkout(chat):
        start.wait()
        try:
            with session_scope(factory) as session:
                cart.checkout(
                    session, settings=settings, payments=FakePayments(), conversation_id=chat,
                    email=None, contact_id=None,
                )  # fmt: skip
            return "ok"
        except service.OrderError as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=len(carts)) as pool:
        results = list(pool.map(checkout, carts))
    assert results.count("ok") == STOCK // 2
    assert set(results) - {"ok"} <= {"Sorry, Beet is out of stock.", "Only 1 left of Beet."}
    with factory() as s:
        stock = dict(s.execute(select(Product.sku, Product.stock)).all())
        assert stock == {"A": 100 - STOCK // 2, "B": 0}
        assert s.execute(select(func.count()).select_from(Order)).scalar_one() == STOCK // 2
