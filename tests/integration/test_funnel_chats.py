"""The funnel's consent, goal, checkout and paid steps come from each chat's latest row per
step (funnel_chats, kept by triggers): after inserts, status changes, deletes, moved chats,
withdrawals and rows dated after the period, they equal the live COUNT(DISTINCT chat) over the
period's rows, on SQLite and Postgres, and today's rows count at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, update

from backend.contacts.models import ConsentEvent, Contact
from backend.dashboard import overview
from backend.dashboard.models import FunnelChat
from backend.dashboard.service import REVENUE_STATUSES
from backend.db import session_scope, utcnow
from backend.orders.models import Order

STATUSES = ("pending_payment", "paid", "cancelled", "expired", "refunded", "partially_refunded")


@pytest.fixture(params=["sqlite", "postgres"])
def factory(request):
    if request.param == "sqlite":
        return request.getfixturevalue("session_factory")
    return request.getfixturevalue("pg_session_factory")


def live(session, period: overview.Period) -> dict[str, int]:
    """The steps as COUNT(DISTINCT chat) over the period's own rows (what they mean)."""
    in_consents = (ConsentEvent.created_at >= period.start, ConsentEvent.created_at < period.end)
    in_orders = (Order.created_at >= period.start, Order.created_at < period.end)

    def distinct(column, *where) -> int:
        return session.execute(select(func.count(func.distinct(column))).where(*where)).scalar()

    granted = ConsentEvent.granted.is_(True)
    return {
        "consent": distinct(
            ConsentEvent.conversation_id, granted, ConsentEvent.purpose == "privacy", *in_consents
        ),
        "goal": distinct(
            ConsentEvent.conversation_id,
            granted,
            ConsentEvent.purpose == "health_data",
            *in_consents,
        ),
        "checkout": distinct(Order.conversation_id, *in_orders),
        "paid": distinct(Order.conversation_id, Order.status.in_(REVENUE_STATUSES), *in_orders),
    }


def shown(session, period: overview.Period) -> dict[str, int]:
    rows = overview.funnel(session, period=period)
    return {row["step"]: row["count"] for row in rows if row["step"] in live(session, period)}


def assert_equal_to_live(factory, now) -> dict[str, int]:
    with session_scope(factory) as s:
        for days in (1, 7, 30, 365):
            period = overview.Period(end=now, days=days)
            assert shown(s, period) == live(s, period), days
        return shown(s, overview.Period(end=now, days=30))


def _order(s, chat, status, at):
    order = Order(
        conversation_id=chat,
        status=status,
        currency="USD",
        subtotal_minor=1000,
        total_minor=1000,
        created_at=at,
    )
    s.add(order)
    return order


def _consent(s, contact_id, chat, purpose, granted, at):
    s.add(
        ConsentEvent(
            contact_id=contact_id,
            conversation_id=chat,
            purpose=purpose,
            channel="chat",
            granted=granted,
            wording="w",
            wording_version="v1",
            created_at=at,
        )
    )


def test_funnel_steps_equal_the_live_distinct_counts(factory):
    now = utcnow()
    day = timedelta(days=1)
    with session_scope(factory) as s:
        contact = Contact()
        s.add(contact)
        s.flush()
        # orders: before the period only, in it, both, after its end (clock skew), every status
        _order(s, "before-only", "paid", now - 40 * day)
        _order(s, "both", "paid", now - 40 * day)
        _order(s, "both", "pending_payment", now - 10 * day)
        _order(s, "future-and-in", "paid", now + day)
        _order(s, "future-and-in", "paid", now - 5 * day)
        _order(s, "future-only", "paid", now + day)
        for i, status in enumerate(STATUSES):
            _order(s, f"status-{status}", status, now - (i + 1) * day)
        _order(s, None, "paid", now - 2 * day)  # no chat: never a funnel chat
        moving = _order(s, "moving", "paid", now - 3 * day)
        doomed = _order(s, "doomed", "paid", now - 3 * day)
        later = _order(s, "paid-later", "pending_payment", now - 3 * day)
        # consents: granted, withdrawn, both purposes, before, after
        _consent(s, contact.id, "c-privacy", "privacy", True, now - 2 * day)
        _consent(s, contact.id, "c-withdrawn", "privacy", False, now - 2 * day)
        _consent(s, contact.id, "c-goal", "health_data", True, now - 3 * day)
        _consent(s, contact.id, "c-goal", "privacy", True, now - 50 * day)
        _consent(s, contact.id, "c-old", "health_data", True, now - 100 * day)
        _consent(s, contact.id, "c-future", "privacy", True, now + day)
        _consent(s, contact.id, "c-future", "privacy", True, now - 6 * day)
    before = assert_equal_to_live(factory, now)
    assert before == {"consent": 2, "goal": 1, "checkout": 11, "paid": 6}

    with session_scope(factory) as s:  # a payment, a refund, a cancel, a delete, a moved chat
        s.get(Order, later.id).status = "paid"
        s.execute(
            update(Order).where(Order.conversation_id == "status-paid").values(status="refunded")
        )
        s.execute(
            update(Order)
            .where(Order.conversation_id == "status-partially_refunded")
            .values(status="cancelled")
        )
        s.execute(delete(Order).where(Order.id == doomed.id))
        s.get(Order, moving.id).conversation_id = "moved"
        s.execute(
            update(Order).where(Order.conversation_id == "both").values(created_at=now - 60 * day)
        )
    after = assert_equal_to_live(factory, now)
    assert after == {"consent": 2, "goal": 1, "checkout": 9, "paid": 5}

    with session_scope(factory) as s:  # today's partial day is live: no job, no wait
        _order(s, "just-now", "paid", utcnow() - timedelta(seconds=1))
        _consent(s, contact.id, "just-now", "privacy", True, utcnow() - timedelta(seconds=1))
    latest = assert_equal_to_live(factory, utcnow())
    assert latest == {"consent": 3, "goal": 1, "checkout": 10, "paid": 6}
    with session_scope(factory) as s:
        assert s.get(FunnelChat, ("paid", "just-now")) is not None
        assert s.get(FunnelChat, ("paid", "doomed")) is None
