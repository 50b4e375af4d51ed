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

from backend.api.app import create_app
from backend.db import session_scope
from backend.incidents import Incident
from backend.ledger import LedgerEntry
from backend.orders import service, views
from backend.orders.models import (
    CreditNote,
    Order,
    Payment,
    PaymentDispute,
    ProcessedWebhookEvent,
    Receipt,
)
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


def test_expired_session_keeps_stripes_recovery_url_for_the_reminder(
    client, session_factory, order
):
    event = expired(order)
    recovery = "https://checkout.stripe.com/c/pay/r/cs_test_recover_1"
    event["data"]["object"]["after_expiration"] = {"recovery": {"enabled": True, "url": recovery}}
    assert post(client, event).json()["outcome"] == "expired"
    with session_scope(session_factory) as session:
        assert service.get_order(session, order.public_id).recovery_url == recovery
    event = expired(order, event_id="evt_expired_2")
    event["data"]["object"]["after_expiration"] = {"recovery": {"url": "javascript:alert(1)"}}
    answer = post(client, event)
    assert answer.status_code == 400 and "recovery.url" in answer.json()["error"]


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


# --- issue 11: odd shapes, disputes, refund cap, signature times, body cap ------------------
NOTHING = {"payments": 0, "receipts": 0, "credit_notes": 0, "processed_webhook_events": 0}


def dispute(order, status_="needs_response", event_type="charge.dispute.created", **extra):
    obj = {
        "id": "dp_1",
        "object": "dispute",
        "amount": order.total_minor,
        "currency": "usd",
        "charge": "ch_1",
        "payment_intent": "pi_123",
        "reason": "fraudulent",
        "status": status_,
        "metadata": {},
        **extra,
    }
    return {"id": f"evt_{event_type}_{status_}", "type": event_type, "data": {"object": obj}}


def incidents(factory, kind: str) -> list[Incident]:
    with factory() as s:
        return list(s.execute(select(Incident).where(Incident.kind == kind)).scalars())


def ledger_actions(factory, entity_type: str) -> list[str]:
    with factory() as s:
        return list(
            s.execute(
                select(LedgerEntry.action)
                .where(LedgerEntry.entity_type == entity_type)
                .order_by(LedgerEntry.seq)
            ).scalars()
        )


# --- disputes -------------------------------------------------------------------------------
def test_dispute_lifecycle_is_recorded_with_an_incident_and_ledger_entries(
    client, session_factory, order
):
    post(client, completed(order))
    created = post(client, dispute(order))
    assert created.status_code == 200 and created.json()["outcome"] == "dispute needs_response"
    assert [i.severity for i in incidents(session_factory, "payment_disputed")] == ["critical"]
    assert incidents(session_factory, "payment_disputed")[0].entity_id == order.public_id

    update = dispute(order, "under_review", "charge.dispute.updated")
    assert post(client, update).json()["outcome"] == "dispute under_review"
    closed = dispute(order, "lost", "charge.dispute.closed")
    assert post(client, closed).json()["outcome"] == "dispute lost"
    assert post(client, closed).json()["outcome"] == "duplicate event"

    with session_factory() as s:
        row = s.execute(select(PaymentDispute)).scalar_one()
        assert (row.status, row.amount_minor, row.reason) == (
            "lost",
            order.total_minor,
            "fraudulent",
        )
        assert row.closed_at is not None
        assert row.order_id == s.execute(select(Order.id)).scalar_one()
    assert ledger_actions(session_factory, "payment_dispute") == ["opened", "closed_lost"]
    assert len(incidents(session_factory, "payment_disputed")) == 1


def test_dispute_for_an_unknown_payment_opens_an_incident_and_stores_no_dispute(
    client, session_factory, order
):
    response = post(client, dispute(order, payment_intent="pi_unknown"))
    assert response.status_code == 200 and response.json()["outcome"] == "unknown order"
    assert len(incidents(session_factory, "dispute_without_payment")) == 1
    with session_factory() as s:
        assert s.execute(select(func.count(PaymentDispute.id))).scalar_one() == 0


# --- refunds capped at what was paid --------------------------------------------------------
def test_refund_of_three_times_the_total_credits_only_what_was_paid(client, session_factory, order):
    post(client, completed(order))
    response = post(client, refunded(order, 3 * order.total_minor))
    assert response.status_code == 200 and response.json()["outcome"] == "refunded"
    with session_factory() as s:
        notes = list(s.execute(select(CreditNote.amount_minor)).scalars())
        assert notes == [order.total_minor]
        assert s.execute(select(Order.refunded_minor)).scalar_one() == order.total_minor
    [incident] = incidents(session_factory, "refund_exceeds_payment")
    assert incident.detail["reported_refunded_minor"] == 3 * order.total_minor
    assert incident.detail["credited_minor"] == order.total_minor
    # a later, even larger report credits nothing more and is flagged again
    again = post(client, refunded(order, 4 * order.total_minor, event_id="evt_refund_9"))
    assert again.json()["outcome"] == "refund above the payment; nothing left to credit"
    assert counts(session_factory)["credit_notes"] == 1
    assert len(incidents(session_factory, "refund_exceeds_payment")) == 2


def test_partial_refund_then_excess_caps_at_the_remainder(client, session_factory, order):
    post(client, completed(order))
    post(client, refunded(order, 1000))
    post(client, refunded(order, order.total_minor + 5000, event_id="evt_refund_2"))
    with session_factory() as s:
        notes = list(s.execute(select(CreditNote.amount_minor).order_by(CreditNote.id)).scalars())
    assert notes == [1000, order.total_minor - 1000] and sum(notes) == order.total_minor
    assert status(session_factory, order) == "refunded"


# --- signature times ------------------------------------------------------------------------
def test_signature_dated_beyond_the_tolerance_in_the_future_is_refused(
    client, session_factory, order
):
    future = post(client, completed(order), timestamp=int(time.time()) + 301)
    assert future.status_code == 400 and "future" in future.json()["error"]
    assert counts(session_factory) == NOTHING
    slightly_ahead = post(client, completed(order), timestamp=int(time.time()) + 60)
    assert slightly_ahead.status_code == 200  # clocks drift a little: inside the tolerance


def test_tolerance_is_a_setting(hook_settings, session_factory, order):
    app = create_app(replace(hook_settings, stripe_signature_tolerance_seconds=30), session_factory)
    with TestClient(app) as c:
        assert post(c, completed(order), timestamp=int(time.time()) - 60).status_code == 400
        assert post(c, completed(order), timestamp=int(time.time()) + 60).status_code == 400
    assert counts(session_factory) == NOTHING


# --- odd shapes with valid signatures -------------------------------------------------------
def _odd(order, name: str):
    good = completed(order)
    obj = good["data"]["object"]
    if name == "array body":
        return [good]
    if name == "data is a list":
        return {**good, "data": [obj]}
    if name == "object is a string":
        return {**good, "data": {"object": "cs_123"}}
    if name == "missing id":
        return {k: v for k, v in good.items() if k != "id"}
    if name == "id is a number":
        return {**good, "id": 12345}
    if name == "amount as string":
        return {**good, "data": {"object": {**obj, "amount_total": str(order.total_minor)}}}
    if name == "amount as float":
        return {**good, "data": {"object": {**obj, "amount_total": 1.5}}}
    if name == "huge amount":
        return {**good, "data": {"object": {**obj, "amount_total": 2**70}}}
    if name == "metadata is a list":
        return {**good, "data": {"object": {**obj, "metadata": ["order_id"]}}}
    if name == "order id is an object":
        return {**good, "data": {"object": {**obj, "metadata": {"order_id": {"a": 1}}}}}
    if name == "currency is a number":
        return {**good, "data": {"object": {**obj, "currency": 840}}}
    if name == "refund amount as string":
        bad = refunded(order, 100)
        bad["data"]["object"]["amount_refunded"] = "100"
        return bad
    if name == "refunds data is a string":
        bad = refunded(order, 100)
        bad["data"]["object"]["refunds"] = {"data": "re_1"}
        return bad
    if name == "dispute without id":
        bad = dispute(order)
        del bad["data"]["object"]["id"]
        return bad
    if name == "dispute amount negative":
        return dispute(order, amount=-5)
    raise AssertionError(name)


ODD = [
    "array body",
    "data is a list",
    "object is a string",
    "missing id",
    "id is a number",
    "amount as string",
    "amount as float",
    "huge amount",
    "metadata is a list",
    "order id is an object",
    "currency is a number",
    "refund amount as string",
    "refunds data is a string",
    "dispute without id",
    "dispute amount negative",
]


@pytest.mark.parametrize("name", ODD)
def test_signed_events_of_odd_shapes_are_400_and_store_nothing(
    client, session_factory, order, name
):
    response = post(client, _odd(order, name))
    assert response.status_code == 400, response.text
    assert "error" in response.json()
    assert counts(session_factory) == NOTHING
    assert status(session_factory, order) == "pending_payment"


# --- body size ------------------------------------------------------------------------------
def test_webhook_bodies_over_the_cap_are_413_and_store_nothing(
    hook_settings, session_factory, order
):
    app = create_app(replace(hook_settings, webhook_max_body_bytes=4096), session_factory)
    event = completed(order)
    event["data"]["object"]["padding"] = "x" * 5000
    body = json.dumps(event).encode()
    headers = {"Stripe-Signature": sign(body), "Content-Type": "application/json"}
    with TestClient(app) as c:
        declared = c.post("/webhooks/stripe", content=body, headers=headers)
        assert declared.status_code == 413 and "larger than 4096" in declared.json()["error"]

        def chunks():  # no Content-Length: the cap is counted while the body streams
            for start in range(0, len(body), 1024):
                yield body[start : start + 1024]

        streamed = c.post("/webhooks/stripe", content=chunks(), headers=headers)
        assert streamed.status_code == 413
        small = c.post("/webhooks/stripe", json={"x": 1}, headers={"Stripe-Signature": "t=1"})
        assert small.status_code == 400  # under the cap: the signature check answers
    assert counts(session_factory) == NOTHING
