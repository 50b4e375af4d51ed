"""Follow-ups, queuing a message through the send gate, and withdrawals (unsubscribe, STOP).

Every email, SMS and WhatsApp message is an outbox row of kind `email`/`sms`/`whatsapp` made by
`queue_message`, which asks the gate first (and the deliverer asks it again before sending):

* send   → a pending row, due now;
* defer  → a pending row, due at the next 08:00 in the recipient's time zone (quiet hours);
* refuse → a `blocked` row with the reason, so staff can see why a follow-up did not go.

Functions flush, never commit: the entrypoint (job, request, CLI) commits once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import bus
from backend.config import Settings
from backend.contacts import consent, rights
from backend.contacts.lookup import find_contact, first_name
from backend.contacts.models import ConsentEvent, Contact
from backend.db import utcnow
from backend.messaging import content, gate
from backend.messaging.models import FollowUp
from backend.outbox import queue as outbox
from backend.outbox.models import OutboxMessage

SCHEDULED, QUEUED, BLOCKED, CANCELLED = "scheduled", "queued", "blocked", "cancelled"
FOLLOW_UP_TOPIC = "follow_up"
BATCH = 200
UNSUBSCRIBE_WORDING = (
    "Unsubscribe link: stop all offers and wellness tips by email, SMS and WhatsApp."
)
STOP_WORDING = "Replied STOP to our number (reported by the SMS/WhatsApp provider)."


class FollowUpError(ValueError):
    """A follow-up cannot be scheduled as asked (message says why)."""


# --- queuing through the gate -------------------------------------------------------------


@dataclass(frozen=True)
class Queued:
    decision: gate.Decision
    message: OutboxMessage


def queue_message(
    session: Session,
    *,
    settings: Settings,
    contact: Contact,
    channel: str,
    template: str,
    purpose: str,
    context: dict,
    idempotency_key: str,
    topic: str = "message",
    now: datetime | None = None,
) -> Queued:
    """Ask the gate, then write the outbox row (idempotent on the key) in this transaction."""
    now = now or utcnow()
    decision = gate.check(
        session,
        settings=settings,
        contact=contact,
        channel=channel,
        purpose=purpose,
        template=template,
        context=context,
        now=now,
    )
    payload: dict = {"template": template, "context": context}
    if decision.message is not None:
        payload["preview"] = {"subject": decision.message.subject, "body": decision.message.body}
    message = outbox.enqueue(
        session,
        kind=channel if channel in gate.CHANNELS else "invalid",
        topic=topic,
        payload=payload,
        idempotency_key=idempotency_key,
        purpose=purpose,
        contact_id=contact.id if contact is not None else None,
        recipient=decision.message.to if decision.message is not None else None,
        not_before=decision.not_before or now,
    )
    fresh = message.status == outbox.PENDING and message.attempts == 0
    if decision.outcome == gate.REFUSE and fresh:
        message.status, message.last_error = outbox.BLOCKED, f"blocked: {decision.reason}"
        session.flush()
    return Queued(decision, message)


# --- follow-ups -------------------------------------------------------------------------------


def schedule_follow_up(
    session: Session,
    *,
    contact: Contact,
    channel: str,
    template: str,
    due_at: datetime,
    purpose: str | None = None,
    order_id: int | None = None,
) -> FollowUp:
    """A follow-up to send at `due_at` (the gate decides then); the same one twice is one row."""
    if channel not in gate.CHANNELS:
        raise FollowUpError(f"channel must be one of {', '.join(gate.CHANNELS)}")
    bus.ensure_wired()  # other areas' templates are registered by the wiring
    if template not in CONTEXT_BUILDERS:
        raise FollowUpError(
            f"template must be one of {', '.join(sorted(CONTEXT_BUILDERS))} (got {template!r})"
        )
    spec = content.template(template)
    purpose = purpose or spec.purpose
    if purpose not in (content.MARKETING, content.TRANSACTIONAL):
        raise FollowUpError("purpose must be marketing or transactional")
    if spec.purpose == content.MARKETING and purpose != content.MARKETING:
        raise FollowUpError(f"template {template} is marketing: it cannot be sent as {purpose}")
    if template == "order_receipt" and order_id is None:
        raise FollowUpError("an order_receipt follow-up needs an order")
    due_at = due_at if due_at.tzinfo else due_at.replace(tzinfo=timezone.utc)
    existing = session.execute(
        select(FollowUp).where(
            FollowUp.contact_id == contact.id,
            FollowUp.channel == channel,
            FollowUp.template == template,
            FollowUp.status == SCHEDULED,
            FollowUp.order_id.is_(None) if order_id is None else FollowUp.order_id == order_id,
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    follow_up = FollowUp(
        contact_id=contact.id,
        order_id=order_id,
        channel=channel,
        template=template,
        purpose=purpose,
        due_at=due_at,
        status=SCHEDULED,
    )
    session.add(follow_up)
    session.flush()
    return follow_up


def queue_due_follow_ups(
    session: Session, *, settings: Settings, now: datetime | None = None, limit: int = BATCH
) -> dict[str, int]:
    """Turn due follow-ups into outbox rows through the gate; returns counts per outcome."""
    now = now or utcnow()
    due = (
        session.execute(
            select(FollowUp)
            .where(FollowUp.status == SCHEDULED, FollowUp.due_at <= now)
            .order_by(FollowUp.due_at, FollowUp.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # two schedulers never queue one twice
        )
        .scalars()
        .all()
    )
    counts = {"due": len(due), gate.SEND: 0, gate.DEFER: 0, gate.REFUSE: 0}
    for follow_up in due:
        contact = session.get(Contact, follow_up.contact_id)
        context = _context(session, settings=settings, follow_up=follow_up, contact=contact)
        queued = queue_message(
            session,
            settings=settings,
            contact=contact,
            channel=follow_up.channel,
            template=follow_up.template,
            purpose=follow_up.purpose,
            context=context,
            idempotency_key=f"follow_up:{follow_up.id}",
            topic=FOLLOW_UP_TOPIC,
            now=now,
        )
        counts[queued.decision.outcome] += 1
        follow_up.status = BLOCKED if queued.decision.outcome == gate.REFUSE else QUEUED
    session.flush()
    return counts


def cancel_follow_up(session: Session, *, follow_up_id: int) -> FollowUp:
    follow_up = session.get(FollowUp, follow_up_id)
    if follow_up is None:
        raise FollowUpError(f"there is no follow-up {follow_up_id}")
    if follow_up.status != SCHEDULED:
        raise FollowUpError(f"follow-up {follow_up_id} is {follow_up.status}, not scheduled")
    follow_up.status = CANCELLED
    session.flush()
    return follow_up


# Context of each template, read when the follow-up is queued (no health data without consent).


def _context(session, *, settings, follow_up, contact) -> dict:
    if contact is None or contact.erased_at is not None:
        return {}
    bus.ensure_wired()
    return CONTEXT_BUILDERS[follow_up.template](
        session, settings=settings, follow_up=follow_up, contact=contact
    )


def _first_name(contact: Contact) -> str | None:
    return first_name(contact)


def _goal_context(session, *, settings, follow_up, contact) -> dict:
    context: dict = {"first_name": _first_name(contact), "goal_label": None, "products": []}
    health = consent.current_consent(session, contact_id=contact.id, purpose=consent.HEALTH)
    if health and contact.wellness_goal:
        from backend.trends.recommend import DSHEA_DISCLAIMER, recommend_for_goal

        recommendation = recommend_for_goal(session, goal=contact.wellness_goal, limit=3)
        context["goal_label"] = content.goal_label(contact.wellness_goal)
        context["products"] = [
            {"sku": p.sku, "name": p.name, "is_supplement": DSHEA_DISCLAIMER in p.disclaimer}
            for p in recommendation.products
        ]
        context["products_from_goal"] = True  # they reveal the goal: dropped with its consent
    return context


def _order_context(session, *, settings, follow_up, contact) -> dict:
    from backend.money import format_minor
    from backend.orders.models import Order, OrderItem

    order = session.get(Order, follow_up.order_id) if follow_up.order_id else None
    if order is None:
        return {"first_name": _first_name(contact)}
    items = session.execute(
        select(OrderItem).where(OrderItem.order_id == order.id).order_by(OrderItem.id)
    ).scalars()
    base = settings.public_base_url.rstrip("/")
    return {
        "first_name": _first_name(contact),
        "order_ref": order.public_id.split("-")[0].upper(),
        "total": format_minor(order.total_minor, order.currency),
        "items": [{"name": i.name, "quantity": i.quantity} for i in items],
        "receipt_url": f"{base}/api/orders/{order.public_id}/receipt.pdf",
    }


# Template -> (session, *, settings, follow_up, contact) -> context. Areas that own a template's
# facts register its builder in backend/bootstrap.py (sales: callback_confirmation).
CONTEXT_BUILDERS = {
    "follow_up_goal": _goal_context,
    "order_receipt": _order_context,
}


def register_context(template: str, builder) -> None:
    """Make `builder` compute the values of `template` when its follow-up is queued."""
    CONTEXT_BUILDERS[template] = builder


# --- withdrawals ------------------------------------------------------------------------------


def withdraw_marketing_once(
    session: Session,
    *,
    contact: Contact,
    source: str,
    wording: str,
    version: str,
    also_transactional: tuple[str, ...] = (),
) -> list[ConsentEvent]:
    """Withdraw marketing on every channel not already withdrawn (plus transactional ones).

    Idempotent: a channel whose latest decision is already a withdrawal gets no new event, so a
    link clicked twice or a STOP reported twice leaves one set of events. The person's scheduled
    follow-ups are cancelled and queued messages blocked at once (contacts.rights.withdraw).
    """
    recorded = rights.withdraw(
        session, contact=contact, source=source, wording=wording, version=version
    )
    if also_transactional:
        recorded += rights.withdraw(
            session,
            contact=contact,
            purpose=consent.TRANSACTIONAL,
            channels=also_transactional,
            source=source,
            wording=wording,
            version=version,
        )
    return recorded


@dataclass(frozen=True)
class UnsubscribeResult:
    withdrawn: int  # consent events recorded now (0: already unsubscribed)


def unsubscribe(session: Session, *, settings: Settings, token: str) -> UnsubscribeResult:
    """The unsubscribe link: withdraw marketing on every channel; BadUnsubscribeToken if forged."""
    public_id = gate.read_unsubscribe_token(settings, token)
    contact = session.execute(
        select(Contact).where(Contact.public_id == public_id).with_for_update()
    ).scalar_one_or_none()
    if contact is None:
        raise gate.BadUnsubscribeToken("this unsubscribe link is not valid")
    if contact.erased_at is not None:
        return UnsubscribeResult(0)  # erased: every consent is already withdrawn
    events = withdraw_marketing_once(
        session,
        contact=contact,
        source="unsubscribe_link",
        wording=UNSUBSCRIBE_WORDING,
        version=settings.privacy_policy_version,
    )
    return UnsubscribeResult(len(events))


def check_unsubscribe_token(settings: Settings, token: str) -> None:
    """Raise BadUnsubscribeToken unless the link is one of ours (for the confirm page)."""
    gate.read_unsubscribe_token(settings, token)


def record_stop(
    session: Session,
    *,
    settings: Settings,
    contact: Contact | None = None,
    phone: str | None = None,
    channel: str = "sms",
) -> list[ConsentEvent]:
    """A STOP reported for a phone number (Twilio 21610, an inbound STOP): withdraw at once.

    Marketing is withdrawn on every channel (DESIGN rule 1) and transactional messages on the
    channel the STOP came from (the carrier blocks them anyway). `phone` may carry `whatsapp:`.
    """
    if contact is None and phone:
        contact = find_contact(session, phone_e164=phone.removeprefix(gate.WHATSAPP_PREFIX).strip())
    if contact is None or contact.erased_at is not None:
        return []
    return withdraw_marketing_once(
        session,
        contact=contact,
        source="sms_stop",
        wording=STOP_WORDING,
        version=settings.privacy_policy_version,
        also_transactional=(channel,) if channel in ("sms", "whatsapp") else (),
    )
