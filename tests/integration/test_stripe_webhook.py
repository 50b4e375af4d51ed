"""POST /webhooks/stripe: signature checked at the edge, each event applied exactly once."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import replace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.orders import service, views
from backend.orders.models import CreditNote, Order, Payment, ProcessedWebhookEvent, Receipt
from backend.orders.payments import FakePayments
from tests.integration.orders_support import add_product, place, stock_of

SECRET = "whsec_localtest_5f2b9a"


@pytest.fixture
def hook_settings(settings):
    return replace(settings, stripe_webhook_secret=SECRET)


@pytest.fixture
def client(hook_settings, session_factory):
    app = FastAPI()
    app.state.settings, app.state.session_factory = hook_settings, session_factory
    app.include_router(views.router)
    return TestClient(app)


@pytest.fixture
def order(session_factory, hook_settings):
    add_product(session_factory, stock=10)
    return place(
        session_factory, hook_settings, items=[("DCP-1", 2)], payments=FakePayments(name="stripe")
    )


def sign(payload: bytes, *, secret: str = SECRET, timestamp: int | None = None) -> str:
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def completed(order, event_id="evt_completed_1", pi="pi_123") -> dict:
    return {
        "id": event_id,
        "object": "event",
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "id": f"cs_{order.public_id}",
                "object": "checkout.session",
                "payment_status": "paid",
                "payment_intent": pi,
                "amount_total": order.total_minor,
                "currency": "usd",
                "metadata": {"order_id": order.public_id},
            }
        },
    }


def expired(order, event_id="evt_expired_1") -> dict:
    return {
        "id": event_id,
        "type": "checkout.session.expired",
        "data": {
            "object": {
                "id": f"cs_{order.public_id}",
                "payment_status": "unpaid",
                "metadata": {"order_id": order.public_id},
            }
        },
    }


def refunded(order, amount, event_id="evt_refund_1") -> dict:
    return {
        "id": event_id,
        "type": "charge.refunded",
        "data": {
            "object": {
                "id": "ch_1",
                "object": "charge",
                "payment_intent": "pi_123",
                "amount": order.total_minor,
                "amount_refunded": amount,
                "metadata": {"order_id": order.public_id},
            }
        },
    }


def post(client, event: dict, **sign_kwargs):
    body = json.dumps(event).encode()
    return client.post(
        "/webhooks/stripe",
        content=body,
        headers={"Stripe-Signature": sign(body, **sign_kwargs), "Content-Type": "application/json"},
    )


def counts(factory) -> dict:
    with factory() as s:
        return {
            model.__tablename__: s.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (Payment, Receipt, CreditNote, ProcessedWebhookEvent)
        }


def status(factory, order) -> str:
    with factory() as s:
        return service.get_order(s, order.public_id).status


def test_valid_signature_marks_the_order_paid(client, session_factory, order):
    response = post(client, completed(order))
    assert response.status_code == 200 and response.json()["outcome"] == "paid"
    assert status(session_factory, order) == "paid"
    assert counts(session_factory) == {
        "payments": 1,
        "receipts": 1,
        "credit_notes": 0,
        "processed_webhook_events": 1,
    }
    with session_factory() as s:
        assert s.execute(select(Payment.provider_ref)).scalar_one() == "pi_123"


@pytest.mark.parametrize(
    "attack",
    ["wrong secret", "tampered body", "stale timestamp", "missing header", "garbage header"],
)
def test_bad_signatures_are_refused_and_store_nothing(client, session_factory, order, attack):
    body = json.dumps(completed(order)).encode()
    headers = {"Stripe-Signature": sign(body)}
    if attack == "wrong secret":
        headers["Stripe-Signature"] = sign(body, secret="whsec_someone_else")
    elif attack == "tampered body":
        body = body.replace(b'"amount_total": ', b'"amount_total": 1')
    elif attack == "stale timestamp":
        headers["Stripe-Signature"] = sign(body, timestamp=int(time.time()) - 301)
    elif attack == "missing header":
        headers = {}
    else:
        headers["Stripe-Signature"] = "t=abc,v1=nothex"
    response = client.post("/webhooks/stripe", content=body, headers=headers)
    assert response.status_code == 400
    assert "invalid webhook signature" in response.json()["error"]
    assert status(session_factory, order) == "pending_payment"
    assert counts(session_factory) == {
        "payments": 0,
        "receipts": 0,
        "credit_notes": 0,
        "processed_webhook_events": 0,
    }


def test_same_event_ten_times_gives_one_payment_and_one_receipt(client, session_factory, order):
    outcomes = [post(client, completed(order)).json()["outcome"] for _ in range(10)]
    assert outcomes == ["paid"] + ["duplicate event"] * 9
    # a second event for the same payment (another event id) is also absorbed by the payment ref
    again = completed(order, event_id="evt_completed_2")
    again["type"] = "checkout.session.async_payment_succeeded"
    assert post(client, again).json()["outcome"] == "already paid"
    assert counts(session_factory)["payments"] == 1 and counts(session_factory)["receipts"] == 1


def test_expired_after_completed_keeps_the_order_paid_and_the_stock_taken(
    client, session_factory, order
):
    post(client, completed(order))
    assert post(client, expired(order)).json()["outcome"] == "ignored (paid)"
    assert status(session_factory, order) == "paid" and stock_of(session_factory) == 8


def test_completed_after_expired_takes_the_stock_again(client, session_factory, order):
    assert post(client, expired(order)).json()["outcome"] == "expired"
    assert stock_of(session_factory) == 10
    assert post(client, completed(order)).json()["outcome"] == "paid"
    assert stock_of(session_factory) == 8 and status(session_factory, order) == "paid"


def test_refund_before_payment_is_deferred_then_applied_on_redelivery(
    client, session_factory, order
):
    early = post(client, refunded(order, 1000))
    assert early.status_code == 409  # Stripe redelivers non-2xx events later
    assert counts(session_factory)["processed_webhook_events"] == 0
    post(client, completed(order))
    assert post(client, refunded(order, 1000)).json()["outcome"] == "partially_refunded"
    assert (
        post(client, refunded(order, order.total_minor, event_id="evt_refund_2")).json()["outcome"]
        == "refunded"
    )
    assert (
        post(client, refunded(order, order.total_minor, event_id="evt_refund_2")).json()["outcome"]
        == "duplicate event"
    )
    with session_factory() as s:
        assert [
            n for (n,) in s.execute(select(CreditNote.amount_minor).order_by(CreditNote.id))
        ] == [1000, order.total_minor - 1000]
        assert s.execute(select(Order.refunded_minor)).scalar_one() == order.total_minor


def test_unhandled_event_types_are_acknowledged(client, session_factory, order):
    response = post(
        client, {"id": "evt_x", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}
    )
    assert response.status_code == 200 and response.json()["outcome"] == "ignored"
    assert counts(session_factory)["processed_webhook_events"] == 0


def test_without_a_signing_secret_webhooks_are_refused(settings, session_factory, order):
    app = FastAPI()
    app.state.settings, app.state.session_factory = settings, session_factory
    app.include_router(views.router)
    body = json.dumps(completed(order)).encode()
    response = TestClient(app).post(
        "/webhooks/stripe", content=body, headers={"Stripe-Signature": sign(body)}
    )
    assert response.status_code == 503 and status(session_factory, order) == "pending_payment"
