"""What the CRM may know about a contact, and the outbox rows that push it there.

Consent decides the content, twice: when a push is enqueued (in the transaction of the change
that caused it) and again when it is delivered (consent may have changed in between):

* nothing is pushed for a chat without privacy consent, nor for a contact with no name, email
  or phone (nothing that would identify a CRM record);
* the wellness goal is health data: it is in a push only while health-data consent holds;
* leads flagged sensitive or emergency are never pushed (that someone asked a medical
  question is itself health-adjacent); they stay in the backend's sales inbox;
* an erased contact gets no further pushes: erasure blanks the contact's outbox payloads and
  local CRM records at once and enqueues one `contact_erased` push, which deletes the contact
  in the CRM (HubSpot: GDPR delete of every record id a push created).

Each push carries the contact's whole consented view, so the newest one wins: an older contact
push still waiting when a newer one exists is not sent (`superseded`). Functions flush, never
commit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from backend.contacts import consent
from backend.contacts.models import Contact
from backend.crm.models import CrmRecord
from backend.integrations import IntegrationError
from backend.outbox import queue as outbox
from backend.outbox.models import OutboxMessage

KIND = "crm"
CONTACT_UPDATED, LEAD_CREATED, CONTACT_ERASED = "contact_updated", "lead_created", "contact_erased"
NOT_PUSHED_LEAD_KINDS = ("sensitive", "emergency")


def contact_view(session: Session, *, contact: Contact) -> dict | None:
    """The consented CRM view of a contact now; None when nothing may be pushed."""
    if contact.erased_at is not None:
        return None
    state = consent.consent_state(session, contact_id=contact.id)
    if not state.get((consent.PRIVACY, consent.CHAT)):
        return None
    fields = {
        key: value
        for key, value in (
            ("name", contact.name),
            ("email", contact.email),
            ("phone", contact.phone_e164),
        )
        if value
    }
    if not fields:
        return None
    health = bool(state.get((consent.HEALTH, consent.CHAT)))
    if health and contact.wellness_goal:
        fields["wellness_goal"] = contact.wellness_goal
    return {
        "contact_ref": contact.public_id,
        "fields": fields,
        "health_consent": health,
        "marketing": {
            channel: bool(state.get((consent.MARKETING, channel)))
            for channel in consent.MARKETING_CHANNELS
        },
    }


def push_contact(session: Session, *, contact: Contact, cause: str) -> OutboxMessage | None:
    """Enqueue the contact's consented view if it differs from the last one pushed.

    `cause` names the event (e.g. `consent-17`, `interaction-4`, `details`); a change without
    an event row of its own (`details`) is numbered by the contact's pushes so far.
    """
    view = contact_view(session, contact=contact)
    if view is None:
        return None
    last = _last_push(session, contact_id=contact.id)
    if last is not None and last.topic == CONTACT_UPDATED and last.payload == view:
        return last  # nothing changed for the CRM (a repeated answer, a retried request)
    if cause == "details":
        cause = f"details-{_push_count(session, contact_id=contact.id) + 1}-{_digest(view)}"
    return outbox.enqueue(
        session,
        kind=KIND,
        topic=CONTACT_UPDATED,
        payload=view,
        idempotency_key=f"crm:{contact.public_id}:{cause}",
        contact_id=contact.id,
    )


def push_lead(session: Session, *, lead) -> OutboxMessage | None:
    """A new lead for the sales team, pushed with its contact's consented view."""
    if lead.kind in NOT_PUSHED_LEAD_KINDS or lead.contact_id is None:
        return None
    contact = session.get(Contact, lead.contact_id)
    view = contact_view(session, contact=contact) if contact is not None else None
    if view is None:
        return None
    view["lead"] = {
        "kind": lead.kind,
        "priority": lead.priority,
        "preferred_time": lead.preferred_time,
        "goal": lead.goal if view["health_consent"] else None,
    }
    return outbox.enqueue(
        session,
        kind=KIND,
        topic=LEAD_CREATED,
        payload=view,
        idempotency_key=f"crm:{contact.public_id}:lead-{lead.id}",
        contact_id=contact.id,
    )


def erase_contact(session: Session, *, contact: Contact, cause: str) -> OutboxMessage | None:
    """Erasure: blank what the outbox and the local CRM hold; delete the contact in the CRM."""
    pushed = _push_count(session, contact_id=contact.id)
    outbox.forget_contact(session, contact_id=contact.id)
    session.execute(
        update(CrmRecord)
        .where(CrmRecord.contact_id == contact.id)
        .values(properties={"erased": True})
        .execution_options(synchronize_session=False)
    )
    if not pushed:
        return None  # nothing was ever queued for the CRM: nothing to delete there
    return outbox.enqueue(
        session,
        kind=KIND,
        topic=CONTACT_ERASED,
        payload={"contact_ref": contact.public_id},
        idempotency_key=f"crm:{contact.public_id}:{cause}",
        contact_id=contact.id,
    )


# --- delivery-time checks ----------------------------------------------------------------


@dataclass(frozen=True)
class CrmPush:
    """One push as an adapter sees it."""

    message_id: int
    contact_id: int
    topic: str
    operation: str  # upsert | erase
    payload: dict
    known_refs: tuple[str, ...]  # provider refs of this contact's earlier sent pushes


def prepare(session: Session, *, message: OutboxMessage) -> CrmPush | None:
    """Re-check consent for a due push; None when a newer push makes it pointless.

    Raises outbox.Blocked when the contact was erased or withdrew privacy consent.
    """
    refs = tuple(
        session.execute(
            select(OutboxMessage.provider_ref)
            .where(
                OutboxMessage.kind == KIND,
                OutboxMessage.contact_id == message.contact_id,
                OutboxMessage.status == outbox.SENT,
                OutboxMessage.provider_ref.is_not(None),
                OutboxMessage.id != message.id,
            )
            .order_by(OutboxMessage.id.desc())
        ).scalars()
    )
    if message.topic == CONTACT_ERASED:
        busy = session.execute(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.kind == KIND,
                OutboxMessage.contact_id == message.contact_id,
                OutboxMessage.status == outbox.SENDING,
                OutboxMessage.id != message.id,
            )
        ).scalar_one()
        if busy:
            # a push in flight may create a record this deletion has to include
            raise IntegrationError("waiting for an earlier push of this contact to finish")
        return CrmPush(message.id, message.contact_id, message.topic, "erase", {}, refs)
    contact = session.get(Contact, message.contact_id) if message.contact_id else None
    if contact is None or contact.erased_at is not None:
        raise outbox.Blocked("contact erased")
    if not consent.has_consent(session, contact_id=contact.id, purpose=consent.PRIVACY):
        raise outbox.Blocked("privacy consent withdrawn")
    if "lead" not in message.payload and _newer_push_exists(session, message=message):
        return None
    payload = json.loads(json.dumps(message.payload))  # a copy: the stored intent stays as is
    if not consent.has_consent(session, contact_id=contact.id, purpose=consent.HEALTH):
        payload["fields"].pop("wellness_goal", None)
        payload["health_consent"] = False
        if payload.get("lead"):
            payload["lead"]["goal"] = None
    return CrmPush(message.id, contact.id, message.topic, "upsert", payload, refs)


def _newer_push_exists(session: Session, *, message: OutboxMessage) -> bool:
    return (
        session.execute(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.kind == KIND,
                OutboxMessage.contact_id == message.contact_id,
                OutboxMessage.id > message.id,
                OutboxMessage.topic != CONTACT_ERASED,
                OutboxMessage.status.in_((outbox.PENDING, outbox.SENDING, outbox.SENT)),
            )
        ).scalar_one()
        > 0
    )


def _last_push(session: Session, *, contact_id: int) -> OutboxMessage | None:
    return session.execute(
        select(OutboxMessage)
        .where(OutboxMessage.kind == KIND, OutboxMessage.contact_id == contact_id)
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def _push_count(session: Session, *, contact_id: int) -> int:
    return session.execute(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.kind == KIND, OutboxMessage.contact_id == contact_id)
    ).scalar_one()


def _digest(view: dict) -> str:
    return hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()[:12]
