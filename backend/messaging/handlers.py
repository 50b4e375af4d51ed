"""How messaging reacts to what happened elsewhere: follow-ups scheduled in the same
transaction. The send gate decides again when each one is due (consent, quiet hours, the
WhatsApp window), so a later opt-out still wins."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import get_settings
from backend.contacts import consent
from backend.contacts.models import Contact
from backend.db import utcnow
from backend.events import CallbackRequested, CheckoutExpired, ContactDetailsSubmitted, OrderPaid
from backend.messaging import gate
from backend.messaging.models import FollowUp
from backend.messaging.service import CANCELLED, SCHEDULED, schedule_follow_up
from backend.orders.models import Order

CHECKOUT_REMINDER = "checkout_reminder"

# When the first marketing follow-up is due after marketing consent in the chat.
GOAL_FOLLOW_UP_AFTER = timedelta(days=3)


def _live(session: Session, contact_id: int | None) -> Contact | None:
    contact = session.get(Contact, contact_id) if contact_id is not None else None
    return None if contact is None or contact.erased_at is not None else contact


def receipt_email(session: Session, event: OrderPaid) -> None:
    """The receipt email, due now: without transactional email consent it is recorded blocked."""
    contact = _live(session, event.contact_id)
    if contact is None or not contact.email:
        return
    schedule_follow_up(
        session,
        contact=contact,
        channel="email",
        template="order_receipt",
        purpose="transactional",
        due_at=utcnow(),
        order_id=event.order_id,
    )


def callback_confirmation(session: Session, event: CallbackRequested) -> None:
    """A confirmation by email, else by text (a callback always has a phone number)."""
    contact = session.get(Contact, event.contact_id)
    if contact is None:
        return
    schedule_follow_up(
        session,
        contact=contact,
        channel="email" if contact.email else "sms",
        template="callback_confirmation",
        purpose="transactional",
        due_at=utcnow(),
    )


def goal_follow_ups(session: Session, event: ContactDetailsSubmitted) -> None:
    """One `follow_up_goal` per chosen marketing channel that has an address; the message names
    the goal only while health-data consent stands."""
    contact = session.get(Contact, event.contact_id)
    if contact is None:
        return
    due_at = utcnow() + GOAL_FOLLOW_UP_AFTER
    for channel in event.marketing_channels:
        if gate.recipient_address(contact, channel):
            schedule_follow_up(
                session, contact=contact, channel=channel, template="follow_up_goal", due_at=due_at
            )


def checkout_reminder(session: Session, event: CheckoutExpired) -> None:
    """ONE reminder for a checkout whose payment link expired unpaid, due
    CHECKOUT_REMINDER_MINUTES later on the first channel (email, WhatsApp, SMS) with an address
    AND marketing consent; none without such consent. A checkout reopened from a reminder gets
    no second one. The gate decides again when it is due, so a later opt-out still wins."""
    contact = _live(session, event.contact_id)
    order = session.get(Order, event.order_id)
    if contact is None or order is None or order.recovered_from_id is not None:
        return
    if session.execute(
        select(FollowUp.id).where(
            FollowUp.order_id == order.id, FollowUp.template == CHECKOUT_REMINDER
        )
    ).first():
        return
    channel = next(
        (
            c
            for c in consent.CHANNELS
            if gate.recipient_address(contact, c)
            and consent.has_consent(
                session, contact_id=contact.id, purpose=consent.MARKETING, channel=c
            )
        ),
        None,
    )
    if channel is None:
        return
    schedule_follow_up(
        session,
        contact=contact,
        channel=channel,
        template=CHECKOUT_REMINDER,
        due_at=utcnow() + timedelta(minutes=get_settings().checkout_reminder_minutes),
        order_id=order.id,
    )


def drop_checkout_reminders(session: Session, event: OrderPaid) -> None:
    """Paid after all (another order, or the provider's recovery page): no reminder is due."""
    if event.contact_id is None:
        return
    for follow_up in session.execute(
        select(FollowUp).where(
            FollowUp.contact_id == event.contact_id,
            FollowUp.template == CHECKOUT_REMINDER,
            FollowUp.status == SCHEDULED,
        )
    ).scalars():
        follow_up.status = CANCELLED
    session.flush()
