"""Leads and handoffs for the sales team: callbacks, human requests, sensitive inquiries.

Each lead gets a priority and an SLA deadline from its kind (backend/sales/routing.py), so the
inbox can sort and the SLA check can alert; staff work leads through backend/sales/inbox.py.
Functions flush, never commit.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from backend.contacts import service as contacts
from backend.crm import service as crm
from backend.db import utcnow
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
    contact = contacts.contact_for(session, sender_id=sender_id)
    goal = None
    if contact is not None and contacts.has_consent(
        session, contact_id=contact.id, purpose=contacts.HEALTH
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
    crm.push_lead(session, lead=lead)  # same transaction; sensitive leads are not pushed
    return lead


def open_lead(session: Session, *, sender_id: str, kind: str) -> Lead | None:
    return session.execute(
        select(Lead)
        .where(Lead.conversation_id == sender_id, Lead.kind == kind, Lead.status != "closed")
        .order_by(Lead.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def request_handoff(session: Session, *, sender_id: str, channel: str = "web", reason: str) -> Lead:
    """The person asked for a human: one open handoff lead per chat, conversation marked."""
    contacts.mark_conversation(session, sender_id=sender_id, channel=channel, handed_off=True)
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
    contact = contacts.contact_for(session, sender_id=sender_id)
    if contact is None or not contact.phone_e164:
        raise contacts.ConsentRequired("a callback needs privacy consent and a phone number")
    contacts.record_interaction(
        session, sender_id=sender_id, kind="cta", detail={"cta": "callback"}
    )
    lead = create_lead(
        session, sender_id=sender_id, kind="callback", reason=reason, preferred_time=preferred_time
    )
    # A confirmation by email (else by text), through the send gate (transactional consent for
    # that channel) when the follow-ups job runs; without consent it is recorded as blocked.
    from backend.messaging.service import schedule_follow_up

    schedule_follow_up(
        session,
        contact=contact,
        channel="email" if contact.email else "sms",  # a callback always has a phone number
        template="callback_confirmation",
        purpose="transactional",
        due_at=utcnow(),
    )
    return lead


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
        lead.conversation_id = None
    if leads:  # staff notes and close reasons may quote the person: keep who/what/when only
        for activity in session.execute(
            select(LeadActivity).where(LeadActivity.lead_id.in_([lead.id for lead in leads]))
        ).scalars():
            activity.detail = {"erased": True} if activity.detail else {}
    session.flush()
    return len(leads)


def submit_contact(
    session: Session,
    *,
    sender_id: str,
    details: contacts.ContactDetails,
    version: str,
    callback_time: str | None = None,
    confirm_email=None,
) -> Lead | None:
    """The chat's contact form: details and consent decisions, a "new picks for your goal"
    follow-up on each marketing channel chosen, plus a callback lead if asked."""
    contact = contacts.save_contact_details(
        session, sender_id=sender_id, details=details, version=version, confirm_email=confirm_email
    )
    _schedule_goal_follow_ups(session, contact=contact, channels=details.marketing_channels)
    if callback_time is None or not details.phone_e164:
        return None
    return request_callback(session, sender_id=sender_id, preferred_time=callback_time)


# When the first marketing follow-up is due after marketing consent in the chat.
GOAL_FOLLOW_UP_AFTER = timedelta(days=3)


def _schedule_goal_follow_ups(session: Session, *, contact, channels: tuple[str, ...]) -> None:
    """One `follow_up_goal` per chosen channel that has an address. The send gate checks consent,
    quiet hours and the WhatsApp window again when it is due, so a later opt-out still wins; the
    message names the goal only while health-data consent stands."""
    from backend.messaging.gate import recipient_address
    from backend.messaging.service import schedule_follow_up

    due_at = utcnow() + GOAL_FOLLOW_UP_AFTER
    for channel in channels:
        if recipient_address(contact, channel):
            schedule_follow_up(
                session, contact=contact, channel=channel, template="follow_up_goal", due_at=due_at
            )


def checkout_from_chat(
    session: Session,
    *,
    settings,
    payments,
    sender_id: str,
    sku: str,
    quantity: int,
):
    """Order from the chat: needs privacy consent; the receipt email comes from the contact."""
    from backend.orders.service import place_order

    contact = contacts.contact_for(session, sender_id=sender_id)
    if contact is None:
        raise contacts.ConsentRequired("checkout needs privacy consent")
    contacts.record_interaction(
        session, sender_id=sender_id, kind="cta", detail={"cta": "checkout", "sku": sku}
    )
    return place_order(
        session,
        settings=settings,
        payments=payments,
        items=[(sku, quantity)],
        email=contact.email,
        contact_id=contact.id,
        conversation_id=sender_id,
    )
