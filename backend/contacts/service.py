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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from backend import bus, ledger, tracker_events
from backend.contacts import identity, rights
from backend.contacts.consent import (  # noqa: F401 - the names callers know contacts by
    HEALTH,
    MARKETING,
    MARKETING_CHANNELS,
    PRIVACY,
    TRANSACTIONAL,
    add_consent_event,
    consent_state,
    has_consent,
)
from backend.contacts.lookup import (  # noqa: F401 - the names callers know contacts by
    contact_for,
    find_contact,
    find_conversation,
    sender_for_contact,
)
from backend.contacts.models import (
    ConsentEvent,
    Contact,
    Conversation,
    DataSubjectRequest,
    Interaction,
)
from backend.db import utcnow
from backend.events import (
    ConsentRecorded,
    ContactChanged,
    ContactErased,
)

# Rasa's table, named once in backend/tracker_events.py (this alias keeps older callers working).
PHONE_SENDER = re.compile(r"\+[1-9][0-9]{6,14}")  # E.164, as Twilio sends `From`


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


def _require_contact(session: Session, sender_id: str) -> tuple[Conversation, Contact]:
    contact = contact_for(session, sender_id=sender_id)
    if contact is None or not has_consent(session, contact_id=contact.id, purpose=PRIVACY):
        raise ConsentRequired("privacy consent is required before storing personal data")
    return find_conversation(session, sender_id=sender_id), contact


# --- consent events -----------------------------------------------------------------------


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
        # The signed WhatsApp number proves the person: attach to their record, if any.
        contact = identity.find_person(session, phone=whatsapp_number(sender_id))
        if contact is None:
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
    bus.publish(session, _recorded(event))  # a re-acceptance is pushed to the CRM again
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
    bus.publish(session, _recorded(event))
    return event


def _recorded(event: ConsentEvent) -> ConsentRecorded:
    return ConsentRecorded(
        contact_id=event.contact_id,
        consent_event_id=event.id,
        purpose=event.purpose,
        channel=event.channel,
        granted=bool(event.granted),
    )


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
    confirm_email: Callable[..., object] | None = None,
) -> Contact:
    """Name/email/phone plus a marketing decision per channel and the transactional decision.

    The email/phone attach the chat to the person who holds them (backend/contacts/identity).
    Email marketing asked for in a chat that has not proved the email starts a double opt-in
    (`confirm_email` queues the link to the record's email; nothing is granted until it is
    followed). A chat that may not act on the record (a claim) changes none of its fields or
    decisions here (an opt-out/STOP still withdraws, see rights.withdraw).
    """
    conversation, contact = _require_contact(session, sender_id)
    phone = details.phone_e164
    if not phone and details.whatsapp_e164 and details.transactional:
        phone = details.whatsapp_e164  # where "here on WhatsApp" sends to
    if details.name and identity.may_act(session, conversation=conversation, contact=contact):
        contact.name = details.name[:200]
    contact = identity.claim(
        session, conversation=conversation, contact=contact, email=details.email, phone_e164=phone
    )
    owner = identity.may_act(session, conversation=conversation, contact=contact)
    state = consent_state(session, contact_id=contact.id)
    chosen = set(details.marketing_channels)
    for channel in MARKETING_CHANNELS:
        granted = channel in chosen
        wants_email = granted and channel == "email" and not state.get((MARKETING, channel))
        if (
            wants_email
            and confirm_email is not None
            and not identity.email_proved(conversation, contact)
        ):
            confirm_email(conversation=conversation, contact=contact)  # to the record's email
            continue
        if not owner:
            continue  # a claim neither signs the person up nor changes their decisions
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
            if not owner:
                continue
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
    bus.publish(session, ContactChanged(contact_id=contact.id, cause="details"))
    return contact


def update_contact(
    session: Session,
    *,
    sender_id: str,
    email: str | None = None,
    phone_e164: str | None = None,
) -> Contact:
    """A correction ("actually my email is …"): values arrive validated. A chat that has not
    proved it is the person only adds what the record lacks (identity.claim)."""
    conversation, contact = _require_contact(session, sender_id)
    contact = identity.claim(
        session, conversation=conversation, contact=contact, email=email, phone_e164=phone_e164
    )
    bus.publish(session, ContactChanged(contact_id=contact.id, cause="details"))
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
        bus.publish(
            session, ContactChanged(contact_id=contact.id, cause=f"interaction-{interaction.id}")
        )
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
    """Withdraw marketing on every channel at once for the person (STOP, unsubscribe link, chat
    request); idempotent (see backend/contacts/rights.withdraw)."""
    return rights.withdraw(
        session,
        contact=contact,
        source=source,
        version=version,
        wording=wording,
        conversation_id=conversation_id,
    )


class ProofRequired(Exception):
    """This chat has not proved it belongs to the person: send a one-time code first."""


def chat_may_act(session: Session, *, sender_id: str) -> bool:
    """Whether this chat may read or erase its contact's record (identity.may_act)."""
    conversation = find_conversation(session, sender_id=sender_id)
    contact = contact_for(session, sender_id=sender_id)
    if conversation is None or contact is None:
        return True  # nothing stored: nothing to protect
    return identity.may_act(session, conversation=conversation, contact=contact)


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
    if contact is None:
        contact = identity.find_person(session, phone=whatsapp_number(sender_id))
    if contact is None:
        return 0
    withdraw_marketing(session, contact=contact, source="chat", version=version,
                       conversation_id=sender_id)  # fmt: skip
    return len(MARKETING_CHANNELS)  # every channel is withdrawn now (again: no new events)


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
    key: str | None = None,
) -> ErasureResult:
    """Right to erasure: personal fields blanked, every consent withdrawn, tracker rows deleted.

    Orders and invoices stay (tax law) but lose the link to a name. With defer_tracker=True
    (a chat turn in progress: Rasa would re-save the tracker right after) the request stays
    `pending_tracker` and `finish_tracker_erasures` deletes the rows after the turn.
    """
    contact = contact_for(session, sender_id=sender_id)
    if contact is not None:
        if not chat_may_act(session, sender_id=sender_id):
            raise ProofRequired("a one-time code must confirm this chat before erasure")
        from backend.config import get_settings

        result = rights.erase(
            session,
            contact=contact,
            key=key or get_settings().pseudonym_key,
            version=version,
            source="chat" if defer_tracker else "api",
            keep_tracker_of=sender_id if defer_tracker else None,
        )
        return ErasureResult(result.request_id, True, result.rows.get("events", 0), defer_tracker)
    conversation = find_conversation(session, sender_id=sender_id)
    if conversation is not None:
        session.execute(delete(Interaction).where(Interaction.conversation_id == conversation.id))
        conversation.sender_id = f"erased-{uuid.uuid4()}"
    # A chat without a contact (asked for a person, never gave details) has leads too.
    bus.publish(session, ContactErased(contact_id=None, conversation_id=sender_id))
    request = DataSubjectRequest(
        contact_id=None,
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
    return ErasureResult(request.id, False, deleted, defer_tracker)


def delete_tracker_rows(session: Session, *, sender_id: str, before: datetime | None = None) -> int:
    """Delete this sender's rows from Rasa's SQL tracker store (if it lives in this database)."""
    return tracker_events.delete_sender(session, sender_id=sender_id, before=before)


PERSONAL_ENTITIES = ("email", "phone", "name")
PERSONAL_SLOTS = ("email", "phone", "name")


def redact_tracker_contact_details(session: Session, *, sender_id: str) -> int:
    """Mask emails and phone numbers in this sender's stored user messages (text, entities)
    and clear personal slots; returns how many tracker rows were rewritten."""
    from backend.logging_setup import redact_text

    changed = 0
    for row_id, type_name, event in tracker_events.personal_events(session, sender_id=sender_id):
        new = _redacted_event(event, type_name, redact_text)
        if new != event:
            tracker_events.rewrite_event(session, row_id=row_id, event=new)
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


def expire_unconsented_trackers(
    session: Session, *, older_than: datetime, keep: set[str] = frozenset()
) -> dict:
    """Delete the tracker rows of chats that never accepted the privacy policy, once their last
    message is older than `older_than`. Chats in `keep` (e.g. those a lead points to: the team
    may still need the transcript) and chats with a contact are kept."""
    stale = tracker_events.silent_senders(session, since=older_than)
    keep = set(keep) | set(
        session.execute(
            select(Conversation.sender_id).where(Conversation.contact_id.is_not(None))
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
    export_path: str | None = None  # the person's full copy (an hour-long link), with `key`


# What other areas hold about a contact, counted by them: area -> (session, contact_id) -> int.
# Registered by backend/bootstrap.py, so contacts reads no other area's tables.
HOLDINGS: dict[str, Callable[[Session, int], int]] = {}


def access_summary(session: Session, *, sender_id: str, key: str | None = None) -> AccessSummary:
    """Right of access: what is stored about this chat's contact (recorded as a request)."""
    contact = contact_for(session, sender_id=sender_id)
    if contact is not None and not chat_may_act(session, sender_id=sender_id):
        raise ProofRequired("a one-time code must confirm this chat before data is shown")
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
    bus.ensure_wired()  # HOLDINGS is filled by the wiring
    state = consent_state(session, contact_id=contact.id)
    conversation_ids = select(Conversation.id).where(Conversation.contact_id == contact.id)
    interactions = session.execute(
        select(Interaction.id).where(Interaction.conversation_id.in_(conversation_ids))
    ).all()
    orders = HOLDINGS["orders"](session, contact.id) if "orders" in HOLDINGS else 0
    return AccessSummary(
        request_id=request.id,
        stored=True,
        name=contact.name,
        email=contact.email,
        phone_e164=contact.phone_e164,
        wellness_goal=contact.wellness_goal,
        consents={f"{p}:{c}": g for (p, c), g in sorted(state.items())},
        interactions=len(interactions),
        orders=orders,
        export_path=f"/my-data/{rights.export_token(key=key, contact=contact)}" if key else None,
    )


def mark_conversation(
    session: Session, *, sender_id: str, channel: str = "web", **flags
) -> Conversation:
    """Set flags (sensitive, handed_off) on a conversation, creating its row if needed.

    `handed_off=True` (re)starts the takeover's idle clock (`handed_off_at`)."""
    if flags.get("handed_off"):
        flags.setdefault("handed_off_at", utcnow())
    conversation = ensure_conversation(session, sender_id=sender_id, channel=channel)
    session.execute(update(Conversation).where(Conversation.id == conversation.id).values(**flags))
    session.refresh(conversation)
    return conversation
