"""Leads and handoffs for the sales team: callbacks, human requests, sensitive inquiries.

Each lead gets a priority and an SLA deadline from its kind (backend/sales/routing.py), so the
inbox can sort and the SLA check can alert; staff work leads through backend/sales/inbox.py.
Functions flush, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from backend import bus
from backend.contacts import consent, lookup
from backend.contacts import service as contacts
from backend.db import utcnow
from backend.events import CallbackRequested, ContactDetailsSubmitted, LeadCreated
from backend.sales import assignment
from backend.sales.models import ChatReply, Lead, LeadActivity
from backend.sales.routing import route_for


def create_lead(
    session: Session,
    *,
    sender_id: str,
    kind: str,
    reason: str,
    preferred_time: str | None = None,
) -> Lead:
    """A lead for this chat; the contact and goal are attached only when consent allows it."""
    route = route_for(kind)  # priority and SLA: one table in backend/sales/routing.py
    contact = lookup.contact_for(session, sender_id=sender_id)
    goal = None
    if contact is not None and consent.has_consent(
        session, contact_id=contact.id, purpose=consent.HEALTH
    ):
        goal = contact.wellness_goal
    lead = Lead(
        contact_id=contact.id if contact else None,
        conversation_id=sender_id,
        kind=kind,
        reason=reason,
        goal=goal,
        priority=route.priority,
        preferred_time=preferred_time,
        sla_due_at=utcnow() + route.first_reply_within,
    )
    session.add(lead)
    session.flush()
    # to the sales user covering its goal and region, else the shared queue (the reason is in
    # the lead's history)
    assignment.route_new_lead(session, lead=lead, contact=contact)
    # the CRM push is enqueued in this transaction; sensitive leads are not pushed
    bus.publish(session, LeadCreated(lead_id=lead.id, kind=kind, contact_id=lead.contact_id))
    return lead


def open_lead(session: Session, *, sender_id: str, kind: str) -> Lead | None:
    return session.execute(
        select(Lead)
        .where(Lead.conversation_id == sender_id, Lead.kind == kind, Lead.status != "closed")
        .order_by(Lead.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def request_handoff(
    session: Session, *, sender_id: str, channel: str = "web", reason: str, pause: bool = True
) -> Lead:
    """The person asked for a human: one open handoff lead per chat; with `pause` the chat is
    marked as the team's (the bot stays quiet, backend/sales/takeover.py)."""
    contacts.mark_conversation(session, sender_id=sender_id, channel=channel, handed_off=pause)
    return open_lead(session, sender_id=sender_id, kind="handoff") or create_lead(
        session, sender_id=sender_id, kind="handoff", reason=reason
    )


def request_callback(
    session: Session,
    *,
    sender_id: str,
    preferred_time: str | None,
    reason: str = "callback requested",
) -> Lead:
    """A callback needs a consenting contact with a phone number (the form collected it)."""
    contact = lookup.contact_for(session, sender_id=sender_id)
    if contact is None or not contact.phone_e164:
        raise contacts.ConsentRequired("a callback needs privacy consent and a phone number")
    contacts.record_interaction(
        session, sender_id=sender_id, kind="cta", detail={"cta": "callback"}
    )
    lead = create_lead(
        session, sender_id=sender_id, kind="callback", reason=reason, preferred_time=preferred_time
    )
    # A confirmation by email (else by text) is scheduled in this transaction.
    bus.publish(session, CallbackRequested(lead_id=lead.id, contact_id=contact.id))
    return lead


def callback_context(session: Session, *, settings, follow_up, contact) -> dict:
    """The values of the `callback_confirmation` message: the latest callback's time."""
    lead = session.execute(
        select(Lead)
        .where(Lead.contact_id == contact.id, Lead.kind == "callback")
        .order_by(Lead.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return {
        "first_name": lookup.first_name(contact),
        "preferred_time": lead.preferred_time if lead is not None else None,
    }


def flag_sensitive(session: Session, *, sender_id: str, channel: str = "web", kind: str) -> Lead:
    """Medical-advice question or emergency: flag the chat and put it in front of a person.

    Stored without consent on purpose (a safety record), but holding no message text:
    only the kind of inquiry and the chat it happened in.
    """
    lead_kind = "emergency" if kind == "emergency" else "sensitive"
    contacts.mark_conversation(session, sender_id=sender_id, channel=channel, sensitive=True)
    contacts.record_interaction(
        session,
        sender_id=sender_id,
        kind="emergency" if kind == "emergency" else "sensitive_inquiry",
        detail={"flag": "sensitive inquiry"},
        channel=channel,
        require_consent=False,
    )
    return open_lead(session, sender_id=sender_id, kind=lead_kind) or create_lead(
        session, sender_id=sender_id, kind=lead_kind, reason="sensitive inquiry"
    )


def redact_leads(session: Session, *, contact_id: int | None, conversation_id: str) -> int:
    """Erasure: leads keep their kind and timing for reporting, lose personal details; the
    replies shown in their web chat windows are deleted."""
    mine = Lead.conversation_id == conversation_id
    if contact_id is not None:
        mine = mine | (Lead.contact_id == contact_id)
    leads = session.execute(select(Lead).where(mine)).scalars().all()
    session.execute(
        delete(ChatReply).where(
            ChatReply.lead_id.in_([lead.id for lead in leads])
            | (ChatReply.conversation_id == conversation_id)
        )
    )
    for lead in leads:
        lead.goal = lead.preferred_time = None
        lead.reason = "erased on request"
        if not (lead.conversation_id or "").startswith("anon-"):  # keyed hash by the registry
            lead.conversation_id = None
    if leads:  # staff notes and close reasons may quote the person: keep who/what/when only
        for activity in session.execute(
            select(LeadActivity).where(LeadActivity.lead_id.in_([lead.id for lead in leads]))
        ).scalars():
            activity.detail = {"erased": True} if activity.detail else {}
    session.flush()
    return len(leads)


@dataclass(frozen=True)
class ContactSubmitted:
    """What the contact form stored, for the chat to say back."""

    lead: Lead | None  # the callback lead, when one was asked for with a phone number
    marketing_channels: tuple[str, ...]  # marketing consent given on these channels
    receipt_channels: tuple[str, ...]  # the channels the receipts question covered


def submit_contact(
    session: Session,
    *,
    sender_id: str,
    details: contacts.ContactDetails,
    version: str,
    callback_time: str | None = None,
    confirm_email=None,
) -> ContactSubmitted:
    """The chat's contact form: details and consent decisions, a "new picks for your goal"
    follow-up on each marketing channel chosen, plus a callback lead if asked.

    SMS/WhatsApp marketing consent without a phone number to send to would be meaningless: only
    email is kept then."""
    details = replace(
        details,
        marketing_channels=tuple(
            c for c in details.marketing_channels if c == "email" or details.phone_e164
        ),
    )
    _, receipt_channels = contacts.transactional_question(
        email=bool(details.email),
        sms=bool(details.phone_e164),
        whatsapp=bool(details.whatsapp_e164),
    )
    contact = contacts.save_contact_details(
        session, sender_id=sender_id, details=details, version=version, confirm_email=confirm_email
    )
    # "new picks for your goal" follow-ups on the marketing channels chosen (see bootstrap)
    bus.publish(
        session,
        ContactDetailsSubmitted(
            contact_id=contact.id, marketing_channels=tuple(details.marketing_channels)
        ),
    )
    lead = None
    if callback_time is not None and details.phone_e164:
        lead = request_callback(session, sender_id=sender_id, preferred_time=callback_time)
    return ContactSubmitted(lead, details.marketing_channels, tuple(receipt_channels))


def checkout_from_chat(
    session: Session,
    *,
    settings,
    payments,
    sender_id: str,
    sku: str | None = None,
    quantity: int | None = None,
):
    """Order the chat's cart as ONE order (with `sku` × `quantity` added first when the
    checkout form asked for a product): needs privacy consent; the receipt email comes from
    the contact."""
    from backend.orders import cart

    contact = lookup.contact_for(session, sender_id=sender_id)
    if contact is None:
        raise contacts.ConsentRequired("checkout needs privacy consent")
    if sku:
        cart.add(
            session, settings=settings, conversation_id=sender_id, item=sku, quantity=quantity or 1
        )
    contacts.record_interaction(
        session, sender_id=sender_id, kind="cta", detail={"cta": "checkout", "sku": sku}
    )
    return cart.checkout(
        session,
        settings=settings,
        payments=payments,
        email=contact.email,
        contact_id=contact.id,
        conversation_id=sender_id,
    )
