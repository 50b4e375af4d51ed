"""How messaging reacts to what happened elsewhere: follow-ups scheduled in the same
transaction. The send gate decides again when each one is due (consent, quiet hours, the
WhatsApp window), so a later opt-out still wins."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from backend.contacts.models import Contact
from backend.db import utcnow
from backend.events import CallbackRequested, ContactDetailsSubmitted, OrderPaid
from backend.messaging import gate
from backend.messaging.service import schedule_follow_up

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
