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
