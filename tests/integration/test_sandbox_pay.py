"""The sandbox pay page: clearly test mode, and it drives the webhook's code path."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.orders import service, views
from backend.orders.bootstrap import payment_provider
from backend.orders.models import Payment, ProcessedWebhookEvent, Receipt
from tests.integration.orders_support import add_product, place, stock_of


def app_for(settings, factory) -> TestClient:
    app = FastAPI()
    app.state.settings, app.state.session_factory = settings, factory
    app.include_router(views.router)
    return TestClient(app)


@pytest.fixture
def sandbox_order(session_factory, settings):
    add_product(session_factory, stock=5)
    return place(
        session_factory, settings, items=[("DCP-1", 2)], payments=payment_provider(settings)
    )


def test_page_is_labelled_test_mode_and_pay_issues_the_receipt(
    settings, session_factory, sandbox_order
):
    client = app_for(settings, session_factory)
    assert (
        sandbox_order.payment_url
        == f"{settings.public_base_url}/sandbox/pay/{sandbox_order.public_id}"
    )
    page = client.get(f"/sandbox/pay/{sandbox_order.public_id}")
    assert page.status_code == 200 and "TEST MODE — no real money" in page.text
    assert "$59.98" in page.text
    paid = client.post(f"/sandbox/pay/{sandbox_order.public_id}", data={"outcome": "pay"})
    assert "Payment succeeded (TEST MODE)" in paid.text and "receipt.pdf" in paid.text
    again = client.post(
        f"/sandbox/pay/{sandbox_order.public_id}", data={"outcome": "pay"}
    )  # double click
    assert again.status_code == 409 and "no longer open" in again.text
    with session_factory() as s:
        assert s.execute(select(func.count()).select_from(Payment)).scalar_one() == 1
        assert (
            s.execute(select(ProcessedWebhookEvent.event_id)).scalar_one()
            == f"sandbox:pay:{sandbox_order.public_id}"
        )
        stored = s.execute(select(Receipt.pdf)).scalar_one()
    pdf = client.get(f"/api/orders/{sandbox_order.public_id}/receipt.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content == stored


def test_fail_keeps_the_order_open(settings, session_factory, sandbox_order):
    client = app_for(settings, session_factory)
    page = client.post(f"/sandbox/pay/{sandbox_order.public_id}", data={"outcome": "fail"})
    assert "Payment failed (TEST MODE)" in page.text
    with session_factory() as s:
        assert service.get_order(s, sandbox_order.public_id).status == "pending_payment"
    assert stock_of(session_factory) == 3


def test_sandbox_is_closed_when_stripe_is_configured(settings, session_factory, sandbox_order):
    live = replace(settings, stripe_secret_key="sk_live_realkey_abc123")
    client = app_for(live, session_factory)
    assert client.get(f"/sandbox/pay/{sandbox_order.public_id}").status_code == 404
    assert (
        client.post(f"/sandbox/pay/{sandbox_order.public_id}", data={"outcome": "pay"}).status_code
        == 404
    )
    with session_factory() as s:
        assert service.get_order(s, sandbox_order.public_id).status == "pending_payment"


def test_unknown_orders_and_missing_receipts_are_404(settings, session_factory, sandbox_order):
    client = app_for(settings, session_factory)
    assert client.get("/sandbox/pay/not-a-uuid").status_code == 404
    assert (
        client.get("/api/orders/00000000-0000-0000-0000-000000000000/receipt.pdf").status_code
        == 404
    )
    missing = client.get(f"/api/orders/{sandbox_order.public_id}/receipt.pdf")
    assert missing.status_code == 404 and missing.json() == {"error": "no receipt for this order"}


def test_routes_are_mounted_in_the_backend_app(settings, session_factory):
    from backend.api.app import create_app

    paths = {route.path for route in create_app(settings, session_factory).routes}
    assert {
        "/webhooks/stripe",
        "/sandbox/pay/{public_id}",
        "/api/orders/{public_id}/receipt.pdf",
    } <= paths
