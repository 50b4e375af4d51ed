"""Follow-ups end to end: scheduled rows → the `follow_ups` job → outbox rows through the gate
(send / defer / refuse) → the outbox job → the local outbox (no provider configured)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from backend.catalog.service import SAMPLE_CATALOG, load_catalog
from backend.db import session_scope, utcnow
from backend.jobs import registry
from backend.messaging import deliver, service
from backend.messaging.models import FollowUp
from backend.outbox.models import OutboxMessage
from backend.sales import service as sales
from backend.trends.recommend import DSHEA_DISCLAIMER
from tests.integration.messaging_support import T0, make_contact, make_settings

UTC = timezone.utc


@pytest.fixture
def settings(db_url):
    return make_settings(db_url)  # placeholder provider keys: the local outbox


def messages(session) -> list[OutboxMessage]:
    return list(
        session.execute(
            select(OutboxMessage)
            .where(OutboxMessage.kind != "crm")
            .order_by(OutboxMessage.id)
        ).scalars()
    )  # fmt: skip


@pytest.fixture(params=["sqlite", "postgres"])
def factory(request):
    if request.param == "sqlite":
        return request.getfixturevalue("session_factory")
    return request.getfixturevalue("pg_session_factory")


def test_due_follow_ups_are_queued_deferred_or_blocked_by_the_gate(factory, settings, monkeypatch):
    session_factory = factory
    with session_scope(session_factory) as session:
        load_catalog(session, source=str(SAMPLE_CATALOG))
        jane = make_contact(session, marketing=("email", "sms"), health_goal="weight_loss")
        la = make_contact(
            session, sender="s2", email="la@shop.test", phone="+13105550100",
            tz="America/Los_Angeles",
        )  # fmt: skip
        plan = [
            (jane, "email", T0 - timedelta(minutes=5)),  # due: goes now
            (jane, "whatsapp", T0 - timedelta(minutes=5)),  # no WhatsApp marketing consent
            (jane, "sms", T0 + timedelta(days=2)),  # not due yet
            (la, "sms", T0 - timedelta(minutes=1)),  # due, but 06:59 in Los Angeles
        ]
        ids = [
            service.schedule_follow_up(
                session, contact=contact, channel=channel, template="follow_up_goal", due_at=due
            ).id
            for contact, channel, due in plan
        ]
        again = service.schedule_follow_up(
            session, contact=jane, channel="email", template="follow_up_goal", due_at=T0
        )
        assert again.id == ids[0]  # the same follow-up scheduled twice is one row
    with session_scope(session_factory) as session:
        counts = service.queue_due_follow_ups(session, settings=settings, now=T0)
    assert counts == {"due": 3, "send": 1, "defer": 1, "refuse": 1}
    with session_factory() as session:
        statuses = [session.get(FollowUp, i).status for i in ids]
        assert statuses == ["queued", "blocked", "scheduled", "queued"]
        email, whatsapp, la_sms = messages(session)
    assert (email.kind, email.status, email.topic) == ("email", "pending", "follow_up")
    preview = email.payload["preview"]["body"]
    assert "weight management" in preview and DSHEA_DISCLAIMER in preview
    assert email.payload["context"]["products"]  # products picked for the goal
    assert (whatsapp.status, whatsapp.last_error) == (
        "blocked",
        "blocked: no marketing consent for whatsapp",
    )
    assert la_sms.status == "pending"
    assert la_sms.next_attempt_at.replace(tzinfo=UTC) == datetime(2026, 11, 25, 16, tzinfo=UTC)

    # the outbox delivers the due one locally; the deferred one waits for 08:00 in LA
    from backend.outbox import queue as outbox

    monkeypatch.setattr(deliver, "clock", lambda: T0)
    counts = outbox.deliver_due(session_factory, settings, worker_id="t", now=T0)
    assert counts["sent"] == 1 and counts["claimed"] == 1
    with session_factory() as session:
        sent = session.get(OutboxMessage, email.id)
        assert sent.status == "sent" and sent.provider_ref == f"local:email:{email.id}"
        assert sent.payload["sent"]["body"] == preview
        assert sent.recipient == "jane@shop.test"
    with session_scope(session_factory) as session:  # a second run finds nothing new
        assert service.queue_due_follow_ups(session, settings=settings, now=T0)["due"] == 0


def test_the_follow_ups_and_outbox_jobs_run_end_to_end(factory, settings):
    session_factory = factory
    with session_scope(session_factory) as session:
        contact = make_contact(session, sender="s1")
        sales.request_callback(session, sender_id="s1", preferred_time="tomorrow after 5 pm")
        follow_up_id = service.schedule_follow_up(
            session,
            contact=contact,
            channel="email",
            template="callback_confirmation",
            due_at=utcnow() - timedelta(minutes=1),
        ).id
    run = registry.run_job("follow_ups", factory=session_factory, settings=settings)
    assert (run.status, run.counts) == ("ok", {"due": 1, "send": 1, "defer": 0, "refuse": 0})
    run = registry.run_job("outbox", factory=session_factory, settings=settings)
    assert run.status == "ok" and run.counts["sent"] >= 1
    with session_factory() as session:
        assert session.get(FollowUp, follow_up_id).status == "queued"
        (message,) = messages(session)
        assert (message.status, message.purpose) == ("sent", "transactional")
        body = message.payload["sent"]["body"]
        assert "call you tomorrow after 5 pm" in body
        assert "/unsubscribe/" in body  # every email can stop marketing
        assert settings.shop_address not in body  # the postal address is for marketing email


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"channel": "fax"}, "channel must be one of"),
        ({"template": "free_text"}, "template must be one of"),
        ({"purpose": "transactional"}, "is marketing: it cannot be sent as transactional"),
        ({"template": "order_receipt"}, "needs an order"),
    ],
)
def test_bad_follow_ups_are_refused_with_a_reason(session, kwargs, error):
    contact = make_contact(session)
    values = {"channel": "email", "template": "follow_up_goal", "due_at": T0, **kwargs}
    with pytest.raises(service.FollowUpError, match=error):
        service.schedule_follow_up(session, contact=contact, **values)
    assert session.execute(select(FollowUp)).first() is None


def test_erasure_stops_queued_follow_up_messages(session_factory, settings):
    from backend.contacts import service as contacts

    with session_scope(session_factory) as session:
        contact = make_contact(session)
        service.schedule_follow_up(
            session, contact=contact, channel="sms", template="follow_up_goal",
            due_at=T0 - timedelta(minutes=1),
        )  # fmt: skip
        service.queue_due_follow_ups(session, settings=settings, now=T0)
        contacts.erase(session, sender_id="s1", version="2026-11")
    with session_factory() as session:
        (message,) = messages(session)
        assert message.status == "blocked" and message.payload == {"erased": True}
        assert message.recipient is None


@pytest.mark.parametrize("transactional", [("email",), ()])
def test_a_paid_order_emails_its_receipt_only_with_transactional_consent(
    session_factory, settings, transactional
):
    from backend.orders import service as orders
    from backend.orders.payments import FakePayments
    from tests.integration.orders_support import add_product, pay

    add_product(session_factory)
    with session_scope(session_factory) as session:
        contact = make_contact(session, sender="buyer", transactional=transactional)
        placed = orders.place_order(
            session,
            settings=settings,
            payments=FakePayments(),
            items=[("DCP-1", 2)],
            email=contact.email,
            contact_id=contact.id,
            conversation_id="buyer",
        )
    pay(session_factory, settings, placed.public_id)
    pay(session_factory, settings, placed.public_id)  # a repeated event: still one email
    with session_factory() as session:
        (follow_up,) = session.execute(select(FollowUp)).scalars()
        assert (follow_up.template, follow_up.channel) == ("order_receipt", "email")
    run = registry.run_job("follow_ups", factory=session_factory, settings=settings)
    registry.run_job("outbox", factory=session_factory, settings=settings)
    with session_factory() as session:
        (message,) = messages(session)
        if transactional:
            assert run.counts["send"] == 1 and message.status == "sent"
            assert message.recipient == "jane@shop.test"
            body = message.payload["sent"]["body"]
            assert placed.public_id in body and "receipt.pdf" in body
        else:
            assert run.counts["refuse"] == 1 and message.status == "blocked"
            assert "consent" in message.last_error


def test_a_callback_request_schedules_its_email_confirmation(session_factory, settings):
    with session_scope(session_factory) as session:
        make_contact(session, sender="s1")
        sales.request_callback(session, sender_id="s1", preferred_time="saturday morning")
        sales.request_callback(session, sender_id="s1", preferred_time="saturday morning")
    run = registry.run_job("follow_ups", factory=session_factory, settings=settings)
    assert run.counts["send"] == 1  # asked twice before it went: one confirmation
    with session_factory() as session:
        (message,) = messages(session)
        assert message.payload["template"] == "callback_confirmation"
        assert "saturday morning" in message.payload["preview"]["body"]
