"""Contacts, consent and data-subject rights: the consent-first rules in one place.

Nothing personal is stored for a chat until its privacy consent exists: `record_privacy`
creates the Contact, every other function refuses (ConsentRequired) or stores nothing
without it. Every consent decision is an append-only ConsentEvent with its ledger entry,
in the caller's transaction. Functions flush, never commit: the entrypoint commits once.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, inspect, select, text, update
from sqlalchemy.orm import Session

from backend import ledger
from backend.contacts.models import (
    ConsentEvent,
    Contact,
    Conversation,
    DataSubjectRequest,
    Interaction,
)
from backend.contacts.records import consent_record
from backend.crm import service as crm
from backend.db import utcnow

PHONE_SENDER = re.compile(r"\+[1-9][0-9]{6,14}")  # E.164, as Twilio sends `From`
PRIVACY, HEALTH, MARKETING, TRANSACTIONAL = "privacy", "health_data", "marketing", "transactional"
MARKETING_CHANNELS = ("email", "sms", "whatsapp")
GOALS = ("weight_loss", "blood_pressure", "diabetes", "anti_aging")
RASA_EVENTS_TABLE = "events"  # Rasa's SQL tracker store shares DATABASE_URL


class ConsentRequired(Exception):
    """Personal data cannot be stored for this chat: privacy consent has not been given."""


# --- wording shown in the chat and stored verbatim with each decision ----------------------


def privacy_wording(*, policy_url: str) -> str:
    return (
        "To help you personally I need to keep a few details (like your name and how to "
        f"reach you). Our privacy policy explains how we use them: {policy_url} . "
        "Do you accept the privacy policy?"
    )


HEALTH_WORDING = (
    "Your wellness goal counts as health information. May I save it with your profile so "
    "our team can tailor suggestions? You can withdraw this at any time."
)
TRANSACTIONAL_WORDING = (
    "May we email you receipts and updates about your orders? (These are not marketing.)"
)
TRANSACTIONAL_WORDING_SMS = (
    "May we text you receipts and updates about your orders? (These are not marketing.)"
)
TRANSACTIONAL_WORDING_BOTH = (
    "May we email and text you receipts and updates about your orders? (These are not marketing.)"
)
RECEIPTS_WHERE = {"email": "by email", "sms": "by text", "whatsapp": "here on WhatsApp"}
TRANSACTIONAL_WORDING_WHERE = (  # in a WhatsApp chat: "... by email and here on WhatsApp?"
    "May we send you receipts and updates about your orders {where}? (These are not marketing.)"
)
MARKETING_WORDING = (
    "Would you like occasional offers and wellness tips? Choose each channel you agree to "
    "(email, SMS, WhatsApp) or say no thanks. You can stop them at any time by typing STOP."
)
OPT_OUT_WORDING = "Stop all marketing messages (chat request)."
ERASURE_WORDING = "Delete my data (chat request): every consent withdrawn."


# --- conversations and contacts -----------------------------------------------------------


def find_conversation(session: Session, *, sender_id: str) -> Conversation | None:
    return session.execute(
        select(Conversation).where(Conversation.sender_id == sender_id)
    ).scalar_one_or_none()


def ensure_conversation(session: Session, *, sender_id: str, channel: str = "web") -> Conversation:
    conversation = find_conversation(session, sender_id=sender_id)
    if conversation is None:
        conversation = Conversation(sender_id=sender_id, channel=_channel_name(channel))
        session.add(conversation)
        session.flush()
    return conversation


def _channel_name(channel: str | None) -> str:
    known = {"twilio": "whatsapp", "twilio_signed": "whatsapp", "socketio": "web", "rest": "web"}
    return known.get(channel or "", channel or "web")[:20]


def contact_for(session: Session, *, sender_id: str) -> Contact | None:
    """The consenting contact of this chat, or None (no privacy consent yet / erased)."""
    conversation = find_conversation(session, sender_id=sender_id)
    if conversation is None or conversation.contact_id is None:
        return None
    contact = session.get(Contact, conversation.contact_id)
    if contact is None or contact.erased_at is not None:
        return None
    return contact


def _require_contact(session: Session, sender_id: str) -> tuple[Conversation, Contact]:
    contact = contact_for(session, sender_id=sender_id)
    if contact is None or not has_consent(session, contact_id=contact.id, purpose=PRIVACY):
        raise ConsentRequired("privacy consent is required before storing personal data")
    return find_conversation(session, sender_id=sender_id), contact


# --- consent events -----------------------------------------------------------------------


def add_consent_event(
    session: Session,
    *,
    contact: Contact,
    purpose: str,
    channel: str,
    granted: bool,
    wording: str,
    version: str,
    conversation_id: str | None = None,
    source: str = "chat",
) -> ConsentEvent:
    """One consent decision and its ledger entry, in the caller's transaction."""
    event = ConsentEvent(
        contact_id=contact.id,
        conversation_id=conversation_id,
        purpose=purpose,
        channel=channel,
        granted=granted,
        wording=wording,
        wording_version=version,
        source=source,
        created_at=utcnow(),
    )
    session.add(event)
    session.flush()
    ledger.append(
        session,
        entity_type="consent",
        entity_id=event.id,
        action="granted" if granted else "withdrawn",
        record=consent_record(event),
    )
    return event


def consent_state(session: Session, *, contact_id: int) -> dict[tuple[str, str], bool]:
    """Latest decision per (purpose, channel); events are append-only so the last one wins."""
    rows = session.execute(
        select(ConsentEvent.purpose, ConsentEvent.channel, ConsentEvent.granted)
        .where(ConsentEvent.contact_id == contact_id)
        .order_by(ConsentEvent.created_at, ConsentEvent.id)
    ).all()
    return {(purpose, channel): bool(granted) for purpose, channel, granted in rows}


def has_consent(session: Session, *, contact_id: int, purpose: str, channel: str = "chat") -> bool:
    return consent_state(session, contact_id=contact_id).get((purpose, channel), False)


def record_privacy(
    session: Session,
    *,
    sender_id: str,
    channel: str,
    granted: bool,
    wording: str,
    version: str,
) -> Contact | None:
    """Privacy decision: accepting creates the Contact; declining before consent stores nothing."""
    conversation = find_conversation(session, sender_id=sender_id)
    contact = contact_for(session, sender_id=sender_id)
    if not granted and contact is None:
        # Nothing to prove and nothing to keep: no row at all, and what the person typed
        # before answering (an email, a phone number) is masked in Rasa's tracker store.
        redact_tracker_contact_details(session, sender_id=sender_id)
        return None
    if contact is None:
        conversation = conversation or ensure_conversation(
            session, sender_id=sender_id, channel=channel
        )
        contact = Contact()
        session.add(contact)
        session.flush()
        conversation.contact_id = contact.id
    event = add_consent_event(
        session,
        contact=contact,
        purpose=PRIVACY,
        channel="chat",
        granted=granted,
        wording=wording,
        version=version,
        conversation_id=sender_id,
    )
    crm.push_contact(session, contact=contact, cause=f"consent-{event.id}")  # re-acceptance
    return contact


def record_consent(
    session: Session,
    *,
    sender_id: str,
    purpose: str,
    channel: str,
    granted: bool,
    wording: str,
    version: str,
) -> ConsentEvent:
    """A consent decision for a chat that already accepted the privacy policy."""
    _, contact = _require_contact(session, sender_id)
    if purpose == HEALTH and not granted:
        contact.wellness_goal = None  # withdrawal of health-data consent removes the goal
    event = add_consent_event(
        session,
        contact=contact,
        purpose=purpose,
        channel=channel,
        granted=granted,
        wording=wording,
        version=version,
        conversation_id=sender_id,
    )
    crm.push_contact(session, contact=contact, cause=f"consent-{event.id}")
    return event


# --- contact details ----------------------------------------------------------------------


def transactional_question(
    *, email: bool, sms: bool, whatsapp: bool = False
) -> tuple[str, tuple[str, ...]]:
    """The receipts question for the addresses the person gave, and the channels a yes covers
    (the chat shows this wording; the consent events store the same).

    `whatsapp`: the chat itself is on WhatsApp, so receipts can come "here".
    """
    if whatsapp:
        given = {"email": email, "sms": sms, "whatsapp": True}
        named = [(c, label) for c, label in RECEIPTS_WHERE.items() if given[c]]
        where = spoken_list([label for _, label in named])
        return TRANSACTIONAL_WORDING_WHERE.format(where=where), tuple(c for c, _ in named)
    if email and sms:
        return TRANSACTIONAL_WORDING_BOTH, ("email", "sms")
    if sms:
        return TRANSACTIONAL_WORDING_SMS, ("sms",)
    return TRANSACTIONAL_WORDING, ("email",)


def spoken_list(items: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return items[-1] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


@dataclass(frozen=True)
class ContactDetails:
    name: str | None = None
    email: str | None = None  # already validated and normalised
    phone_e164: str | None = None
    marketing_channels: tuple[str, ...] = ()
    transactional: bool | None = None  # None: the question was not asked
    # The number of the WhatsApp chat the form was filled in (Twilio-signed), when it was:
    # the receipts question then offers "here on WhatsApp", and a yes stores the number as
    # the contact's phone if they gave none.
    whatsapp_e164: str | None = None


def save_contact_details(
    session: Session,
    *,
    sender_id: str,
    details: ContactDetails,
    version: str,
) -> Contact:
    """Name/email/phone plus a marketing decision per channel and the transactional decision."""
    _, contact = _require_contact(session, sender_id)
    if details.name:
        contact.name = details.name[:200]
    if details.email:
        contact.email = details.email
    if details.phone_e164:
        contact.phone_e164 = details.phone_e164
    elif details.whatsapp_e164 and details.transactional and not contact.phone_e164:
        contact.phone_e164 = details.whatsapp_e164  # where "here on WhatsApp" sends to
    state = consent_state(session, contact_id=contact.id)
    chosen = set(details.marketing_channels)
    for channel in MARKETING_CHANNELS:
        granted = channel in chosen
        if state.get((MARKETING, channel)) != granted:  # record decisions, not repeats
            add_consent_event(
                session,
                contact=contact,
                purpose=MARKETING,
                channel=channel,
                granted=granted,
                wording=MARKETING_WORDING,
                version=version,
                conversation_id=sender_id,
            )
    if details.transactional is not None:
        wording, channels = transactional_question(
            email=bool(details.email),
            sms=bool(details.phone_e164),
            whatsapp=bool(details.whatsapp_e164),
        )
        for channel in channels:
            if state.get((TRANSACTIONAL, channel)) != details.transactional:
                add_consent_event(
                    session,
                    contact=contact,
                    purpose=TRANSACTIONAL,
                    channel=channel,
                    granted=details.transactional,
                    wording=wording,
                    version=version,
                    conversation_id=sender_id,
                )
    session.flush()
    crm.push_contact(session, contact=contact, cause="details")
    return contact


def update_contact(
    session: Session,
    *,
    sender_id: str,
    email: str | None = None,
    phone_e164: str | None = None,
) -> Contact:
    """A correction ("actually my email is …"): values arrive validated."""
    _, contact = _require_contact(session, sender_id)
    if email:
        contact.email = email
    if phone_e164:
        contact.phone_e164 = phone_e164
    session.flush()
    crm.push_contact(session, contact=contact, cause="details")
    return contact


# --- interactions and recommendations -----------------------------------------------------


def record_interaction(
    session: Session,
    *,
    sender_id: str,
    kind: str,
    detail: dict,
    channel: str = "web",
    require_consent: bool = True,
) -> Interaction | None:
    """Interaction rows only exist for consenting chats, except safety records."""
    if require_consent and contact_for(session, sender_id=sender_id) is None:
        return None
    conversation = ensure_conversation(session, sender_id=sender_id, channel=channel)
    interaction = Interaction(conversation_id=conversation.id, kind=kind, detail=detail)
    session.add(interaction)
    session.flush()
    return interaction


def show_recommendations(session: Session, *, sender_id: str, goal: str, limit: int = 3):
    """Recommendations for a goal; the goal and what was shown are kept only with consent."""
    from backend.trends.recommend import recommend_for_goal

    recommendation = recommend_for_goal(session, goal=goal, limit=limit)
    contact = contact_for(session, sender_id=sender_id)
    if contact is not None and has_consent(session, contact_id=contact.id, purpose=HEALTH):
        if contact.wellness_goal is not None and contact.wellness_goal != goal:
            _record_goal_change(session, contact=contact, sender_id=sender_id, goal=goal)
        contact.wellness_goal = goal
        interaction = record_interaction(
            session,
            sender_id=sender_id,
            kind="recommendation",
            detail={
                "goal": goal,
                "skus": [p.sku for p in recommendation.products],
                "bundle": recommendation.bundle_skus,
            },
        )
        crm.push_contact(session, contact=contact, cause=f"interaction-{interaction.id}")
    elif contact is not None:
        # Without health-data consent the goal (and what it implies) is not kept.
        record_interaction(session, sender_id=sender_id, kind="recommendation", detail={})
    return recommendation


def _record_goal_change(session: Session, *, contact: Contact, sender_id: str, goal: str) -> None:
    """The person changed their mind ("actually I meant diabetes"): an event with its ledger
    entry, so the profile's history of health data can be proved like a consent."""
    interaction = record_interaction(
        session,
        sender_id=sender_id,
        kind="goal_changed",
        detail={"from": contact.wellness_goal, "to": goal},
    )
    ledger.append(
        session,
        entity_type="wellness_goal",
        entity_id=interaction.id,
        action="changed",
        record={
            "contact_id": contact.id,
            "interaction_id": interaction.id,
            "from": contact.wellness_goal,
            "to": goal,
        },
    )


# --- withdrawal and data-subject rights ---------------------------------------------------


def withdraw_marketing(
    session: Session,
    *,
    contact: Contact,
    source: str,
    version: str,
    wording: str = OPT_OUT_WORDING,
    conversation_id: str | None = None,
) -> list[ConsentEvent]:
    """Withdraw marketing on every channel at once (STOP, unsubscribe link, chat request)."""
    events = [
        add_consent_event(
            session,
            contact=contact,
            purpose=MARKETING,
            channel=channel,
            granted=False,
            wording=wording,
            version=version,
            conversation_id=conversation_id,
            source=source,
        )
        for channel in MARKETING_CHANNELS
    ]
    crm.push_contact(session, contact=contact, cause=f"consent-{events[0].id}")
    return events


def whatsapp_number(sender_id: str) -> str | None:
    """The E.164 number of a WhatsApp chat ("whatsapp:+14155550123", Twilio-signed), else None."""
    if not sender_id.startswith("whatsapp:"):
        return None
    phone = sender_id.removeprefix("whatsapp:")
    return phone if PHONE_SENDER.fullmatch(phone) else None


def opt_out(session: Session, *, sender_id: str, version: str) -> int:
    """Chat opt-out; returns how many channels were withdrawn (0: nothing was stored).

    A STOP from WhatsApp/SMS arrives with the phone number as the sender id (Twilio signs the
    request, so the number is genuine): when that conversation is not linked to a contact, the
    contact who gave this number in another chat is opted out instead, so the STOP is not lost.
    """
    contact = contact_for(session, sender_id=sender_id)
    phone = sender_id.removeprefix("whatsapp:")
    if contact is None and PHONE_SENDER.fullmatch(phone):
        contact = find_contact(session, phone_e164=phone)
    if contact is None:
        return 0
    return len(
        withdraw_marketing(
            session,
            contact=contact,
            source="chat",
            version=version,
            conversation_id=sender_id,
        )
    )


@dataclass(frozen=True)
class ErasureResult:
    request_id: int
    contact_erased: bool
    tracker_rows_deleted: int
    pending_tracker: bool


def erase(
    session: Session,
    *,
    sender_id: str,
    version: str,
    defer_tracker: bool = False,
) -> ErasureResult:
    """Right to erasure: personal fields blanked, every consent withdrawn, tracker rows deleted.

    Orders and invoices stay (tax law) but lose the link to a name. With defer_tracker=True
    (a chat turn in progress: Rasa would re-save the tracker right after) the request stays
    `pending_tracker` and `finish_tracker_erasures` deletes the rows after the turn.
    """
    contact = contact_for(session, sender_id=sender_id)
    if contact is not None:
        state = consent_state(session, contact_id=contact.id)
        for (purpose, channel), granted in sorted(state.items()):
            if granted:
                add_consent_event(
                    session,
                    contact=contact,
                    purpose=purpose,
                    channel=channel,
                    granted=False,
                    wording=ERASURE_WORDING,
                    version=version,
                    conversation_id=None,
                    source="erasure",
                )
        contact.name = contact.email = contact.phone_e164 = contact.wellness_goal = None
        contact.timezone = None
        contact.erased_at = utcnow()
        # No further CRM pushes; the CRM is told to delete the contact (see backend/crm/service).
        crm.erase_contact(session, contact=contact, cause="erasure")
        _erase_conversations(session, contact_id=contact.id)
        from backend.sales.service import redact_leads

        redact_leads(session, contact_id=contact.id, conversation_id=sender_id)
    else:
        conversation = find_conversation(session, sender_id=sender_id)
        if conversation is not None:
            session.execute(
                delete(Interaction).where(Interaction.conversation_id == conversation.id)
            )
            conversation.sender_id = f"erased-{uuid.uuid4()}"
        from backend.sales.service import redact_leads

        # A chat without a contact (asked for a person, never gave details) has leads too.
        redact_leads(session, contact_id=None, conversation_id=sender_id)
    request = DataSubjectRequest(
        contact_id=contact.id if contact else None,
        kind="deletion",
        note="personal fields erased; orders/invoices kept for tax law without contact details",
    )
    session.add(request)
    deleted = 0
    if defer_tracker:
        request.status, request.sender_id = "pending_tracker", sender_id
    else:
        deleted = delete_tracker_rows(session, sender_id=sender_id)
        request.status, request.completed_at = "completed", utcnow()
    session.flush()
    return ErasureResult(request.id, contact is not None, deleted, defer_tracker)


def _erase_conversations(session: Session, *, contact_id: int) -> None:
    conversations = (
        session.execute(select(Conversation).where(Conversation.contact_id == contact_id))
        .scalars()
        .all()
    )
    for conversation in conversations:
        session.execute(delete(Interaction).where(Interaction.conversation_id == conversation.id))
        # WhatsApp sender ids are phone numbers: replace them with a meaningless id.
        conversation.sender_id = f"erased-{uuid.uuid4()}"


def delete_tracker_rows(session: Session, *, sender_id: str, before: datetime | None = None) -> int:
    """Delete this sender's rows from Rasa's SQL tracker store (if it lives in this database)."""
    if not inspect(session.connection()).has_table(RASA_EVENTS_TABLE):
        return 0
    sql = f"DELETE FROM {RASA_EVENTS_TABLE} WHERE sender_id = :sender"  # noqa: S608 - constant
    params: dict = {"sender": sender_id}
    if before is not None:
        sql += " AND timestamp <= :before"
        params["before"] = before.timestamp()
    return session.execute(text(sql), params).rowcount or 0


PERSONAL_ENTITIES = ("email", "phone", "name")
PERSONAL_SLOTS = ("email", "phone", "name")


def redact_tracker_contact_details(session: Session, *, sender_id: str) -> int:
    """Mask emails and phone numbers in this sender's stored user messages (text, entities)
    and clear personal slots; returns how many tracker rows were rewritten."""
    from backend.logging_setup import redact_text

    if not inspect(session.connection()).has_table(RASA_EVENTS_TABLE):
        return 0
    rows = session.execute(
        text(
            f"SELECT id, type_name, data FROM {RASA_EVENTS_TABLE} "  # noqa: S608 - constant
            "WHERE sender_id = :sender AND type_name IN ('user', 'slot')"
        ),
        {"sender": sender_id},
    ).all()
    changed = 0
    for row_id, type_name, data in rows:
        event = json.loads(data)
        new = _redacted_event(event, type_name, redact_text)
        if new != event:
            session.execute(
                text(f"UPDATE {RASA_EVENTS_TABLE} SET data = :data WHERE id = :id"),  # noqa: S608
                {"data": json.dumps(new), "id": row_id},
            )
            changed += 1
    return changed


def _redacted_event(event: dict, type_name: str, redact) -> dict:
    event = json.loads(json.dumps(event))  # a deep copy to compare with
    if type_name == "slot":
        if event.get("name") in PERSONAL_SLOTS and event.get("value") is not None:
            event["value"] = None
        return event
    if isinstance(event.get("text"), str):
        event["text"] = redact(event["text"])
    parse = event.get("parse_data") or {}
    if isinstance(parse.get("text"), str):
        parse["text"] = redact(parse["text"])
    for found in parse.get("entities") or []:
        if found.get("entity") in PERSONAL_ENTITIES:
            found["value"] = f"<{found['entity']}>"
    return event


def expire_unconsented_trackers(session: Session, *, older_than: datetime) -> dict:
    """Delete the tracker rows of chats that never accepted the privacy policy, once their last
    message is older than `older_than`. Chats a lead points to (the team may still need the
    transcript) are kept."""
    from backend.sales.models import Lead

    if not inspect(session.connection()).has_table(RASA_EVENTS_TABLE):
        return {"conversations": 0, "tracker_rows": 0}
    stale = session.execute(
        text(
            f"SELECT sender_id FROM {RASA_EVENTS_TABLE} GROUP BY sender_id "  # noqa: S608
            "HAVING MAX(timestamp) < :cutoff"
        ),
        {"cutoff": older_than.timestamp()},
    ).scalars()
    keep = set(
        session.execute(
            select(Conversation.sender_id).where(Conversation.contact_id.is_not(None))
        ).scalars()
    )
    keep |= set(
        session.execute(
            select(Lead.conversation_id).where(Lead.conversation_id.is_not(None))
        ).scalars()
    )
    senders = [sender for sender in stale if sender not in keep]
    rows = sum(
        delete_tracker_rows(session, sender_id=sender, before=older_than) for sender in senders
    )
    return {"conversations": len(senders), "tracker_rows": rows}


def finish_tracker_erasures(session: Session) -> dict:
    """Delete tracker rows of erasure requests made in chat; forget the sender id afterwards."""
    pending = (
        session.execute(
            select(DataSubjectRequest).where(DataSubjectRequest.status == "pending_tracker")
        )
        .scalars()
        .all()
    )
    rows = 0
    for request in pending:
        rows += delete_tracker_rows(session, sender_id=request.sender_id, before=utcnow())
        request.status, request.sender_id, request.completed_at = "completed", None, utcnow()
    session.flush()
    return {"requests": len(pending), "tracker_rows": rows}


@dataclass(frozen=True)
class AccessSummary:
    request_id: int
    stored: bool
    name: str | None = None
    email: str | None = None
    phone_e164: str | None = None
    wellness_goal: str | None = None
    consents: dict[str, bool] = field(default_factory=dict)
    interactions: int = 0
    orders: int = 0


def access_summary(session: Session, *, sender_id: str) -> AccessSummary:
    """Right of access: what is stored about this chat's contact (recorded as a request)."""
    contact = contact_for(session, sender_id=sender_id)
    request = DataSubjectRequest(
        contact_id=contact.id if contact else None,
        kind="access",
        status="completed",
        completed_at=utcnow(),
        note="summary shown in chat",
    )
    session.add(request)
    session.flush()
    if contact is None:
        return AccessSummary(request_id=request.id, stored=False)
    from backend.orders.models import Order

    state = consent_state(session, contact_id=contact.id)
    conversation_ids = select(Conversation.id).where(Conversation.contact_id == contact.id)
    interactions = session.execute(
        select(Interaction.id).where(Interaction.conversation_id.in_(conversation_ids))
    ).all()
    orders = session.execute(select(Order.id).where(Order.contact_id == contact.id)).all()
    return AccessSummary(
        request_id=request.id,
        stored=True,
        name=contact.name,
        email=contact.email,
        phone_e164=contact.phone_e164,
        wellness_goal=contact.wellness_goal,
        consents={f"{p}:{c}": g for (p, c), g in sorted(state.items())},
        interactions=len(interactions),
        orders=len(orders),
    )


def mark_conversation(
    session: Session, *, sender_id: str, channel: str = "web", **flags
) -> Conversation:
    """Set flags (sensitive, handed_off) on a conversation, creating its row if needed."""
    conversation = ensure_conversation(session, sender_id=sender_id, channel=channel)
    session.execute(update(Conversation).where(Conversation.id == conversation.id).values(**flags))
    session.refresh(conversation)
    return conversation


def find_contact(session: Session, *, email: str | None = None, phone_e164: str | None = None):
    """A live (not erased) contact by email or E.164 phone, for staff tools."""
    query = select(Contact).where(Contact.erased_at.is_(None))
    if email:
        query = query.where(func.lower(Contact.email) == email.strip().lower())
    elif phone_e164:
        query = query.where(Contact.phone_e164 == phone_e164)
    else:
        return None
    return session.execute(query.order_by(Contact.id.desc()).limit(1)).scalar_one_or_none()


def sender_for_contact(session: Session, *, contact_id: int) -> str | None:
    return session.execute(
        select(Conversation.sender_id).where(Conversation.contact_id == contact_id).limit(1)
    ).scalar_one_or_none()
