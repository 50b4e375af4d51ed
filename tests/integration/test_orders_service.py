"""Orders service on a migrated SQLite database: quote, reserve, expire, pay, refund, numbering."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from backend import ledger
from backend.db import session_scope
from backend.integrations import IntegrationError
from backend.jobs.registry import run_job
from backend.orders import service
from backend.orders.documents import DocLine, DocumentData, render_pdf
from backend.orders.models import CreditNote, Invoice, Order, Payment, Receipt
from backend.orders.payments import FakePayments
from tests.integration.orders_support import add_product, paid_order, pay, place, stock_of


@pytest.fixture
def shop(session_factory, settings):
    add_product(session_factory)
    return session_factory, replace(settings, tax_rate_percent="8.25")


def test_tax_rounds_half_up():
    assert service.tax_minor(1000, "8.25") == 83  # 82.5 → 83
    assert service.tax_minor(999, "0") == 0


def test_quote_prices_the_basket_with_tax(shop):
    factory, settings = shop
    with session_scope(factory) as session:
        q = service.quote(session, settings=settings, items=[("DCP-1", 2)])
    assert (q.subtotal_minor, q.tax_minor, q.total_minor, q.currency) == (5998, 495, 6493, "USD")
    assert q.lines[0].name == "Diabetes Care Pack"


@pytest.mark.parametrize(
    "items, message",
    [
        ([("DCP-1", 11)], "Only 10 left of Diabetes Care Pack."),
        ([("NOPE", 1)], "NOPE"),
        ([("DCP-1", 0)], "at least 1"),
        ([], "empty"),
    ],
)
def test_bad_baskets_are_refused_with_a_reason(shop, items, message):
    factory, settings = shop
    with session_scope(factory) as session, pytest.raises(service.OrderError, match=message):
        service.quote(session, settings=settings, items=items)


def test_placing_reserves_stock_and_opens_a_payment_page(shop):
    factory, settings = shop
    payments = FakePayments()
    placed = place(factory, settings, items=[("DCP-1", 3)], payments=payments)
    assert stock_of(factory) == 7
    assert placed.payment_url.endswith(placed.public_id)
    assert payments.checkouts[0].total_minor == placed.total_minor == 9739
    [view] = service.order_status(factory(), conversation_id="conv-1")
    assert (view.status, view.status_text) == ("pending_payment", "awaiting payment")


def test_provider_outage_fails_the_order_and_keeps_stock(shop):
    factory, settings = shop
    down = FakePayments(fail_with=IntegrationError("Stripe is unavailable", permanent=False))
    with pytest.raises(service.OrderError, match="payment page could not be opened"):
        place(factory, settings, payments=down)
    assert stock_of(factory) == 10
    assert factory().execute(select(Order)).first() is None


def test_expiry_job_releases_stock_once(shop):
    factory, settings = shop
    placed = place(factory, settings, items=[("DCP-1", 4)])
    with session_scope(factory) as session:
        session.get(Order, 1).expires_at = datetime.now(timezone.utc) - timedelta(seconds=1)
    assert run_job("orders_expire", factory=factory, settings=settings).counts == {"expired": 1}
    assert run_job("orders_expire", factory=factory, settings=settings).counts == {"expired": 0}
    assert stock_of(factory) == 10
    assert service.order_status(factory(), public_id=placed.public_id)[0].status == "expired"


def test_cancel_releases_stock_and_paid_orders_cannot_be_cancelled(shop):
    factory, settings = shop
    placed = place(factory, settings, items=[("DCP-1", 2)])
    with session_scope(factory) as session:
        assert service.cancel_order(session, public_id=placed.public_id).status == "cancelled"
    assert stock_of(factory) == 10
    paid = paid_order(factory, settings)
    with (
        session_scope(factory) as session,
        pytest.raises(service.OrderError, match="cannot be cancelled"),
    ):
        service.cancel_order(session, public_id=paid.public_id)


def test_payment_issues_invoice_and_receipt_with_ledger_entries(shop):
    factory, settings = shop
    placed = paid_order(factory, settings, quantity=2)
    with session_scope(factory) as session:
        order = service.get_order(session, placed.public_id)
        invoice = session.execute(select(Invoice)).scalar_one()
        receipt = session.execute(select(Receipt)).scalar_one()
        assert order.status == "paid"
        assert (invoice.number, receipt.number) == (
            f"INV-{invoice.year}-000001",
            f"RCT-{invoice.year}-000001",
        )
        assert invoice.sha256 == ledger.sha256_hex(invoice.pdf)
        assert receipt.sha256 == ledger.sha256_hex(receipt.pdf) and receipt.pdf.startswith(b"%PDF")
        entry = ledger.latest_for(session, entity_type="receipt", entity_id=receipt.number)
        assert entry.record_hash == ledger.record_hash(
            {
                "number": receipt.number,
                "order_public_id": placed.public_id,
                "total_minor": 6493,
                "currency": "USD",
                "sha256": receipt.sha256,
            }
        )
        assert ledger.verify(session).ok
    assert (
        service.order_status(factory(), public_id=placed.public_id)[0].status_text
        == "paid, receipt sent"
    )


def test_invoice_numbers_are_gap_free_even_when_a_payment_rolls_back(shop):
    factory, settings = shop
    first, second, third = (place(factory, settings) for _ in range(3))
    pay(factory, settings, first.public_id)
    with factory() as session:  # a payment that fails after taking a number, then rolls back
        order = service.get_order(session, second.public_id)
        service.handle_payment_event(
            session,
            settings=settings,
            event=service.PaymentEvent(
                provider="sandbox",
                event_id="evt_rolled_back",
                kind="completed",
                order_public_id=order.public_id,
                payment_ref="pi_x",
                amount_minor=order.total_minor,
            ),
        )
        session.rollback()
    pay(factory, settings, third.public_id)
    pay(factory, settings, second.public_id)
    numbers = [n for (n,) in factory().execute(select(Invoice.number).order_by(Invoice.seq))]
    year = datetime.now(timezone.utc).year
    assert numbers == [f"INV-{year}-{i:06d}" for i in (1, 2, 3)]


def test_receipt_pdf_is_deterministic():
    doc = DocumentData(
        kind="Receipt",
        number="RCT-2026-000001",
        issued_at=datetime(2026, 3, 1, 12, 0, 5),
        order_public_id="1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        currency="USD",
        lines=(DocLine("Diabetes Care Pack", "DCP-1", 2, 2999, 5998),),
        subtotal_minor=5998,
        tax_minor=0,
        total_minor=5998,
        seller={"name": "Shop", "address": "1 Way", "tax_id": "T1", "tax_rate_percent": "0"},
    )
    first, second = render_pdf(doc), render_pdf(doc)
    assert first == second
    assert b"D:20260301120005+00'00'" in first  # creation date is the receipt's own time
    assert render_pdf(replace(doc, total_minor=5999)) != first


def test_partial_then_full_refund_issue_credit_notes(shop):
    factory, settings = shop
    placed = paid_order(factory, settings)  # 2999 + 247 tax = 3246
    payments = FakePayments()
    with session_scope(factory) as session:
        result = service.refund(
            session,
            settings=settings,
            payments=payments,
            public_id=placed.public_id,
            amount_minor=1000,
            reason="damaged box",
        )
    assert (result.order_status, result.amount_minor) == ("partially_refunded", 1000)
    with (
        session_scope(factory) as session,
        pytest.raises(service.OrderError, match="between 1 and 2246"),
    ):
        service.refund(
            session,
            settings=settings,
            payments=payments,
            public_id=placed.public_id,
            amount_minor=5000,
            reason="too much",
        )
    with session_scope(factory) as session:
        result = service.refund(
            session,
            settings=settings,
            payments=payments,
            public_id=placed.public_id,
            amount_minor=None,
            reason="returned",
        )
    assert result.order_status == "refunded" and result.amount_minor == 2246
    assert [amount for _, amount in payments.refunds] == [1000, 2246]
    with factory() as session:
        notes = session.execute(select(CreditNote).order_by(CreditNote.id)).scalars().all()
        assert [n.number[-2:] for n in notes] == ["01", "02"]
        assert all(
            ledger.latest_for(session, entity_type="credit_note", entity_id=n.number) for n in notes
        )
        assert (
            service.order_status(session, public_id=placed.public_id)[0].status_text == "refunded"
        )


def test_same_payment_twice_is_one_payment(shop):
    factory, settings = shop
    placed = place(factory, settings)
    assert pay(factory, settings, placed.public_id, event_id="evt_1") == "paid"
    assert pay(factory, settings, placed.public_id, event_id="evt_1") == "duplicate event"
    assert pay(factory, settings, placed.public_id, event_id="evt_2") == "already paid"
    with factory() as session:
        assert len(session.execute(select(Payment)).all()) == 1
        assert len(session.execute(select(Receipt)).all()) == 1
