"""Abandoned checkout: a payment link that expires unpaid → ONE reminder through the send gate
(marketing consent for the channel; never after an opt-out) with a link to a fresh checkout of
the same cart; Stripe's recovery page when the expired session carried one."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.contacts import service as contacts
from backend.contacts.lookup import contact_for
from backend.db import session_scope
from backend.messaging import service as messaging
from backend.messaging.models import FollowUp
from backend.orders import cart, service, views
from backend.orders.models import Order
from backend.orders.payments import FakePayments
from backend.outbox.models import OutboxMessage
from tests.integration.messaging_support import T0, V, make_contact, make_settings
from tests.integration.orders_support import add_product, pay, stock_of

LATER = datetime.now(timezone.utc) + timedelta(days=1)


@pytest.fixture
def settings(db_url):
    return make_settings(db_url, STRIPE_WEBHOOK_SECRET="whsec_localtest_5f2b9a")


@pytest.fixture
def shop(session_factory):
    add_product(session_factory, sku="BP-1", name="Hibiscus Tea", price_minor=1000, stock=5,
                goals=("blood_pressure",))  # fmt: skip
    add_product(session_factory, sku="BP-2", name="Beetroot Powder", price_minor=2500, stock=3,
                goals=("blood_pressure",))  # fmt: skip
    return session_factory


@pytest.fixture
def client(settings, session_factory):
    app = FastAPI()
    app.state.settings, app.state.session_factory = settings, session_factory
    app.state.payments = FakePayments()
    app.include_router(views.router)
    return TestClient(app)


def _abandon(factory, settings, *, marketing=("email", "sms", "whatsapp"), payments=None):
    """A contact checks out a cart (a product and a bundle) and lets the link expire."""
    with session_scope(factory) as session:
        contact = make_contact(session, sender="chat-1", marketing=marketing)
        cart.add(session, settings=settings, conversation_id="chat-1", item="BP-1", quantity=2)
        cart.add(session, settings=settings, conversation_id="chat-1", item="bundle:BP-1+BP-2")
        placed = cart.checkout(
            session, settings=settings, payments=payments or FakePayments(),
            conversation_id="chat-1", email=contact.email, contact_id=contact.id,
        )  # fmt: skip
    with session_scope(factory) as session:
        assert service.expire_orders(session, now=LATER) == 1
    return placed


def _reminders(factory) -> list[FollowUp]:
    with session_scope(factory) as session:
        rows = session.execute(
            select(FollowUp).where(FollowUp.template == "checkout_reminder")
        ).scalars()
        return [(f.channel, f.status, f.order_id) for f in rows]


def _queue_due(factory, settings) -> list[OutboxMessage]:
    """Run the follow-ups job at 10:00 in New York, after the reminder fell due."""
    with session_scope(factory) as session:
        for follow_up in session.execute(select(FollowUp)).scalars():
            follow_up.due_at = T0 - timedelta(minutes=1)
        messaging.queue_due_follow_ups(session, settings=settings, now=T0)
    with session_scope(factory) as session:
        rows = session.execute(
            select(OutboxMessage).where(OutboxMessage.topic == messaging.FOLLOW_UP_TOPIC)
        ).scalars()
        return [(m.kind, m.status, m.recipient, m.payload) for m in rows]


def test_one_reminder_with_a_link_to_a_fresh_checkout(shop, settings, client):
    factory = shop
    placed = _abandon(factory, settings)
    with session_scope(factory) as session:
        order_id = service.get_order(session, placed.public_id).id
        due = session.execute(select(FollowUp.due_at)).scalar_one()
    assert _reminders(factory) == [("email", "scheduled", order_id)]
    assert due.replace(tzinfo=timezone.utc) > datetime.now(timezone.utc) + timedelta(minutes=50)
    # the provider's expired event after our own expiry: still one reminder
    with session_scope(factory) as session:
        event = service.PaymentEvent("stripe", "evt_exp", "expired", placed.public_id)
        assert service.handle_payment_event(session, settings=settings, event=event).startswith(
            "ignored"
        )
    [(kind, status, recipient, payload)] = _queue_due(factory, settings)
    assert (kind, status, recipient) == ("email", "pending", "jane@shop.test")
    body = payload["preview"]["body"]
    assert "2 x Hibiscus Tea" in body and "1 x Bundle: Hibiscus Tea + Beetroot Powder" in body
    link = next(w for w in body.split() if "/checkout/again/" in w)
    assert link.startswith("https://shop.test/checkout/again/")
    path = link.removeprefix("https://shop.test")

    # the link shows the cart; only the button opens a new order (stock checked again)
    page = client.get(path)
    assert page.status_code == 200 and "Beetroot Powder" in page.text
    assert stock_of(factory, "BP-1") == 5
    first = client.post(path, follow_redirects=False)
    assert first.status_code == 303
    again = client.post(path, follow_redirects=False)
    assert again.headers["location"] == first.headers["location"]  # one order, not two
    with session_scope(factory) as session:
        fresh = session.execute(select(Order).where(Order.recovered_from_id == order_id)).all()
        assert len(fresh) == 1 and fresh[0][0].status == "pending_payment"
        assert first.headers["location"] == fresh[0][0].payment_url
    assert (stock_of(factory, "BP-1"), stock_of(factory, "BP-2")) == (2, 2)
    # the reopened checkout expiring too brings no second reminder
    with session_scope(factory) as session:
        assert service.expire_orders(session, now=LATER + timedelta(days=1)) == 1
    assert len(_reminders(factory)) == 1


def test_no_marketing_consent_no_reminder(shop, settings):
    _abandon(shop, settings, marketing=())
    assert _reminders(shop) == []
    assert _queue_due(shop, settings) == []


def test_the_reminder_goes_on_a_channel_with_consent(shop, settings):
    _abandon(shop, settings, marketing=("sms",))
    [(channel, status, _)] = _reminders(shop)
    assert (channel, status) == ("sms", "scheduled")


def test_opted_out_before_the_link_expired_no_reminder(shop, settings):
    with session_scope(shop) as session:
        contact = make_contact(session, sender="chat-1")
        contacts.withdraw_marketing(session, contact=contact, source="chat", version=V)
        cart.add(session, settings=settings, conversation_id="chat-1", item="BP-1")
        cart.checkout(
            session, settings=settings, payments=FakePayments(), conversation_id="chat-1",
            email=contact.email, contact_id=contact.id,
        )  # fmt: skip
    with session_scope(shop) as session:
        service.expire_orders(session, now=LATER)
    assert _reminders(shop) == []


def test_opted_out_after_it_was_scheduled_nothing_is_sent(shop, settings):
    _abandon(shop, settings)
    with session_scope(shop) as session:
        contact = contact_for(session, sender_id="chat-1")
        contacts.withdraw_marketing(session, contact=contact, source="chat", version=V)
    assert [status for _, status, _ in _reminders(shop)] == ["cancelled"]
    assert _queue_due(shop, settings) == []


def test_paid_in_the_meantime_the_reminder_is_dropped(shop, settings):
    placed = _abandon(shop, settings)
    pay(shop, settings, placed.public_id)  # paid late (e.g. through the provider's page)
    assert [status for _, status, _ in _reminders(shop)] == ["cancelled"]


def test_stripes_recovery_page_is_the_reminders_link(shop, settings):
    placed = _abandon(shop, settings, payments=FakePayments(name="stripe"))
    recovery = "https://buy.stripe.com/r/live_abc123"
    with session_scope(shop) as session:
        event = service.PaymentEvent(
            "stripe", "evt_exp", "expired", placed.public_id, recovery_url=recovery
        )
        service.handle_payment_event(session, settings=settings, event=event)
    [(_, _, _, payload)] = _queue_due(shop, settings)
    assert recovery in payload["preview"]["body"]
    assert "/checkout/again/" not in payload["preview"]["body"]


def test_bad_links_and_gone_stock_get_a_clear_answer(shop, settings, client):
    placed = _abandon(shop, settings)
    assert client.get("/checkout/again/forged-token").status_code == 404
    assert "not valid" in client.post("/checkout/again/forged-token").text
    with session_scope(shop) as session:
        order = service.get_order(session, placed.public_id)
        path = cart.reopen_url(settings, order=order).removeprefix("https://shop.test")
        service.place_order(
            session, settings=settings, payments=FakePayments(), items=[("BP-2", 3)],
            email=None, contact_id=None, conversation_id="other",
        )  # fmt: skip
    answer = client.post(path, follow_redirects=False)
    assert answer.status_code == 409 and "out of stock" in answer.text
    with session_scope(shop) as session:
        assert (
            session.execute(select(Order).where(Order.recovered_from_id.is_not(None))).all() == []
        )


def test_the_reminder_delay_is_a_setting(shop, settings, monkeypatch):
    from backend.config import reset_settings_cache

    monkeypatch.setenv("CHECKOUT_REMINDER_MINUTES", "15")
    reset_settings_cache()
    try:
        _abandon(shop, settings)
    finally:
        reset_settings_cache()
    with session_scope(shop) as session:
        due = session.execute(select(FollowUp.due_at)).scalar_one().replace(tzinfo=timezone.utc)
    now = datetime.now(timezone.utc)
    assert now + timedelta(minutes=10) < due <= now + timedelta(minutes=15)
