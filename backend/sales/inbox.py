"""The sales inbox: what staff do with a lead, as a small state machine with a history.

    new ──assign──▶ assigned ──contact / reply──▶ contacted ──close──▶ closed
     │                 ▲                                                 │
     └─contact/reply───┼──────────────────────────▶ contacted            │
       (takes it)      └──────────────────reopen─────────────────────────┘

* `assign` works on any open lead (a reassignment keeps `contacted`); the target must be an
  active sales or admin user.
* `mark_contacted` and `reply` take a new lead for the actor when nobody has it yet.
* `close` needs a reason; `reopen` brings a closed lead back as `assigned` with a fresh SLA.
* `add_note` and `hand_back` work in every status and leave it as it is.
* `take_over` gives an open lead to the actor like `assign` and pauses the bot in its chat
  (backend/sales/takeover.py); a reply in the chat's own window or WhatsApp does the same.
  `hand_back` resumes the bot.

Anything else raises `InvalidTransition` and changes nothing. Every action writes one
`LeadActivity` row (who, what, from → to status, when) in the same transaction. Only the
sales and admin roles may act (DESIGN rule 7); the views check that too. Functions flush, never
commit: the request commits once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import chat_feed, chat_ids
from backend.auth.models import StaffUser
from backend.config import Settings
from backend.contacts import lookup
from backend.contacts.models import Contact, Conversation
from backend.db import utcnow
from backend.messaging import content, gate
from backend.messaging import service as messaging
from backend.outbox.models import OutboxMessage
from backend.sales import takeover
from backend.sales.models import ChatReply, Lead, LeadActivity
from backend.sales.routing import route_for

NEW, ASSIGNED, CONTACTED, CLOSED = "new", "assigned", "contacted", "closed"
STATUSES = (NEW, ASSIGNED, CONTACTED, CLOSED)
OPEN = (NEW, ASSIGNED, CONTACTED)
ACTING_ROLES = ("admin", "sales")
REPLY_TEMPLATE = "free_text"
REPLY_TOPIC = "lead_reply"
MAX_NOTE = 2000
MAX_REASON = 500
MAX_REPLY = 1600  # Twilio's limit for one SMS/WhatsApp body
MAX_SUBJECT = 200
CHAT = "chat"  # the web chat window: the widget fetches staff replies (chat_replies)
REPLY_CHANNELS = (*gate.CHANNELS, CHAT)

# action → {status before: status after}; a status missing here means "not allowed now".
TRANSITIONS: dict[str, dict[str, str]] = {
    "assign": {NEW: ASSIGNED, ASSIGNED: ASSIGNED, CONTACTED: CONTACTED},
    "contact": {NEW: CONTACTED, ASSIGNED: CONTACTED},
    "reply": {NEW: CONTACTED, ASSIGNED: CONTACTED, CONTACTED: CONTACTED},
    "close": {NEW: CLOSED, ASSIGNED: CLOSED, CONTACTED: CLOSED},
    "reopen": {CLOSED: ASSIGNED},
    "note": {s: s for s in STATUSES},
    "hand_back": {s: s for s in STATUSES},
    "take_over": {NEW: ASSIGNED, ASSIGNED: ASSIGNED, CONTACTED: CONTACTED},
}


class InboxError(ValueError):
    """A staff action on a lead that cannot be done; the message says why."""


class LeadNotFound(InboxError):
    pass


class InvalidTransition(InboxError):
    """The action is not allowed in the lead's current status."""


class InvalidInput(InboxError):
    """Missing or malformed input (empty note, unknown staff user…)."""


class NotAllowed(InboxError):
    """The actor's role may read leads but not act on them."""


class ReplyRefused(InboxError):
    """The send gate refused the reply on every channel tried; `reasons` per channel."""

    def __init__(self, message: str, reasons: dict[str, str] | None = None):
        super().__init__(message)
        self.reasons = reasons or {}


@dataclass(frozen=True)
class ReplyResult:
    lead: Lead
    channel: str
    message: OutboxMessage | None  # None: shown in the web chat window (chat_reply)
    chat_reply: ChatReply | None = None


# --- actions ---------------------------------------------------------------------------------


def assign(
    session: Session, *, lead_id: int, actor: StaffUser, to_staff_id: int | None = None
) -> Lead:
    """Give the lead to a sales/admin user (default: the actor)."""
    lead = _load(session, lead_id, actor)
    target = actor if to_staff_id is None else session.get(StaffUser, to_staff_id)
    if target is None or not target.active or target.role not in ACTING_ROLES:
        raise InvalidInput("assign to an active staff user with the sales or admin role")
    before = lead.status
    lead.status = _next(lead, "assign")
    lead.assigned_to = target.id
    _record(session, lead, actor, "assigned", before, detail={"to_staff_id": target.id})
    return lead


def take_over(session: Session, *, lead_id: int, actor: StaffUser) -> Lead:
    """The actor takes the lead and its chat: the bot stays quiet there until hand-back."""
    lead = _load(session, lead_id, actor)
    if not lead.conversation_id:
        raise InvalidInput("this lead has no chat to take over (erased or created by staff)")
    before = lead.status
    lead.status = _next(lead, "take_over")
    lead.assigned_to = actor.id
    takeover.pause(session, sender_id=lead.conversation_id, channel=_chat_channel(session, lead))
    _record(session, lead, actor, "took_over", before)
    return lead


def mark_contacted(
    session: Session, *, lead_id: int, actor: StaffUser, note: str | None = None
) -> Lead:
    """A person reached the customer (phone, chat…) outside the dashboard's reply."""
    lead = _load(session, lead_id, actor)
    before = lead.status
    lead.status = _next(lead, "contact")
    lead.assigned_to = lead.assigned_to or actor.id
    detail = {"note": _text(note, "note", MAX_NOTE)} if note and note.strip() else {}
    _record(session, lead, actor, "contacted", before, detail=detail)
    return lead


def close(session: Session, *, lead_id: int, actor: StaffUser, reason: str) -> Lead:
    lead = _load(session, lead_id, actor)
    reason = _text(reason, "reason", MAX_REASON)
    before = lead.status
    lead.status = _next(lead, "close")
    _record(session, lead, actor, "closed", before, detail={"reason": reason})
    return lead


def reopen(session: Session, *, lead_id: int, actor: StaffUser, note: str | None = None) -> Lead:
    """Back to `assigned` (to its last owner, else the actor) with a new SLA deadline."""
    lead = _load(session, lead_id, actor)
    before = lead.status
    lead.status = _next(lead, "reopen")
    lead.assigned_to = lead.assigned_to or actor.id
    lead.sla_due_at = utcnow() + route_for(lead.kind).first_reply_within
    detail = {"note": _text(note, "note", MAX_NOTE)} if note and note.strip() else {}
    _record(session, lead, actor, "reopened", before, detail=detail)
    return lead


def add_note(session: Session, *, lead_id: int, actor: StaffUser, text: str) -> LeadActivity:
    lead = _load(session, lead_id, actor)
    text = _text(text, "note", MAX_NOTE)
    _next(lead, "note")
    return _record(session, lead, actor, "note", lead.status, detail={"note": text})


def reply(
    session: Session,
    *,
    settings: Settings,
    lead_id: int,
    actor: StaffUser,
    text: str,
    channel: str | None = None,
    subject: str | None = None,
    now: datetime | None = None,
    feed: chat_feed.ChatFeed | None = None,
) -> ReplyResult:
    """Queue a staff-written message to the lead's contact through the one send gate, or show
    it in the lead's web chat window (`channel="chat"`).

    Channels are tried in order (the chat's own channel first when it is WhatsApp, then email,
    SMS, WhatsApp, then the web chat window), or only `channel` when given; the first allowed is
    used. When all are refused, ReplyRefused carries each reason and nothing is queued. A reply
    shown in the chat window is pushed to it through `feed` once committed.
    """
    lead = _load(session, lead_id, actor)
    body = _text(text, "reply text", MAX_REPLY)
    if channel is not None and channel not in REPLY_CHANNELS:
        raise InvalidInput(f"channel must be one of {', '.join(REPLY_CHANNELS)}")
    subject = _text(subject, "subject", MAX_SUBJECT) if subject and subject.strip() else None
    _next(lead, "reply")
    web_chat = is_web_chat(lead.conversation_id)
    if channel == CHAT:
        if not web_chat:
            raise ReplyRefused(
                "this lead has no web chat to reply in (erased, created by staff, or a "
                "WhatsApp/SMS chat: reply on WhatsApp or SMS instead)",
                {CHAT: "not a web chat"},
            )
        return _reply_in_chat(session, lead, actor, body, now, feed)
    contact = session.get(Contact, lead.contact_id) if lead.contact_id else None
    if contact is None:
        if web_chat:  # nobody to write to, but the person can read it in their chat window
            return _reply_in_chat(session, lead, actor, body, now, feed)
        raise ReplyRefused(
            "this chat has no contact who agreed to be contacted: hand it back to the bot or "
            "call them from the chat"
        )
    now = now or utcnow()
    context = {"body": body, "subject": subject}
    reasons: dict[str, str] = {}
    for candidate in [channel] if channel else _channel_order(session, lead):
        decision = _reply_decision(session, settings, contact, candidate, context, now)
        if decision.outcome == gate.REFUSE:
            reasons[candidate] = decision.reason
            continue
        queued = _queue_reply(
            session, settings, contact, candidate, context,
            key=f"{REPLY_TOPIC}:{lead.id}:{uuid.uuid4().hex}", now=now,
        )  # fmt: skip
        before = lead.status
        lead.status = _next(lead, "reply")
        lead.assigned_to = lead.assigned_to or actor.id
        if candidate == "whatsapp" and _chat_channel(session, lead) == "whatsapp":
            # answering in the WhatsApp chat itself: the bot must not talk over the person
            takeover.pause(session, sender_id=lead.conversation_id, channel="whatsapp")
        _record(
            session, lead, actor, "replied", before,
            detail={"channel": candidate, "outbox_id": queued.message.id},
        )  # fmt: skip
        return ReplyResult(lead, candidate, queued.message)
    if web_chat and not channel:
        return _reply_in_chat(session, lead, actor, body, now, feed)
    summary = "; ".join(f"{name}: {reason}" for name, reason in reasons.items())
    raise ReplyRefused(f"the send gate refused the reply ({summary})", reasons)


def _queue_reply(
    session: Session,
    settings: Settings,
    contact: Contact,
    channel: str,
    context: dict,
    *,
    key: str,
    now: datetime,
):
    """A staff-side message (free text, transactional) into the outbox through the gate."""
    return messaging.queue_message(
        session,
        settings=settings,
        contact=contact,
        channel=channel,
        template=REPLY_TEMPLATE,
        purpose=content.TRANSACTIONAL,
        context=context,
        idempotency_key=key,
        topic=REPLY_TOPIC,
        now=now,
    )


def _reply_in_chat(
    session: Session,
    lead: Lead,
    actor: StaffUser,
    body: str,
    now: datetime | None,
    feed: chat_feed.ChatFeed | None,
) -> ReplyResult:
    """Store the reply for the lead's web chat window, which fetches it (`chat_replies`)."""
    shown = ChatReply(
        lead_id=lead.id,
        conversation_id=lead.conversation_id,
        staff_id=actor.id,
        body=body,
        created_at=now or utcnow(),
    )
    session.add(shown)
    session.flush()
    chat_feed.publish_after_commit(
        session, feed=feed, conversation_id=lead.conversation_id, message=reply_event(shown)
    )
    takeover.pause(session, sender_id=lead.conversation_id, channel="web")
    before = lead.status
    lead.status = _next(lead, "reply")
    lead.assigned_to = lead.assigned_to or actor.id
    _record(
        session, lead, actor, "replied", before,
        detail={"channel": CHAT, "chat_reply_id": shown.id},
    )  # fmt: skip
    return ReplyResult(lead, CHAT, None, shown)


def reply_event(shown: ChatReply) -> dict:
    """A staff reply as the chat window shows it (the replies route and the push alike)."""
    return {
        "type": "reply",
        "id": shown.id,
        "text": shown.body,
        "from": "Our team",
        "at": _iso(shown.created_at),
    }


def is_web_chat(conversation_id: str | None) -> bool:
    """A chat of the website widget (its ids are "web-" + a random UUID), not WhatsApp/SMS."""
    return chat_ids.is_web_chat(conversation_id)


def chat_replies(
    session: Session, *, conversation_id: str, after: int = 0, now: datetime | None = None
) -> tuple[list[ChatReply], bool]:
    """Staff replies for a web chat window newer than `after`, and whether the team may still
    write (an open lead for the chat; the widget stops asking when there is none). Marks them
    fetched."""
    if not is_web_chat(conversation_id):
        return [], False
    replies = list(
        session.execute(
            select(ChatReply)
            .where(ChatReply.conversation_id == conversation_id, ChatReply.id > after)
            .order_by(ChatReply.id)
        ).scalars()
    )
    for shown in replies:
        shown.fetched_at = shown.fetched_at or now or utcnow()
    open_lead = session.execute(
        select(Lead.id)
        .where(Lead.conversation_id == conversation_id, Lead.status != CLOSED)
        .limit(1)
    ).first()
    return replies, open_lead is not None


def mark_shown(
    session: Session, *, conversation_id: str, reply_id: int, now: datetime | None = None
) -> None:
    """A reply pushed to the chat window was shown there ("seen" in the transcript)."""
    shown = session.get(ChatReply, reply_id)
    if shown is not None and shown.conversation_id == conversation_id:
        shown.fetched_at = shown.fetched_at or now or utcnow()


def hand_back(
    session: Session,
    *,
    lead_id: int,
    actor: StaffUser,
    feed: chat_feed.ChatFeed | None = None,
) -> Lead:
    """The bot answers the chat again: its takeover flag is cleared (Rasa reads it on the next
    turn, backend/sales/takeover.py) and its open web chat window is told, through `feed`.

    Rasa's HTTP API is not called: its tracker is never paused (the pause is the backend's
    flag), and on SQLite Rasa's tracker write would wait on this request's write lock.
    """
    lead = _load(session, lead_id, actor)
    _next(lead, "hand_back")
    if not lead.conversation_id:
        raise InvalidInput("this lead has no chat to hand back (erased or created by staff)")
    takeover.resume(session, sender_id=lead.conversation_id)
    if is_web_chat(lead.conversation_id):
        chat_feed.publish_after_commit(
            session, feed=feed, conversation_id=lead.conversation_id, message={"type": "handback"}
        )
    _record(session, lead, actor, "handed_back", lead.status)
    return lead


IDLE_NOTICE = (
    "Our team couldn't answer here in time, so the assistant is back in this chat. Your "
    "request stays with the team; ask for a person again at any time."
)


def release_idle(
    session: Session,
    *,
    settings: Settings,
    now: datetime | None = None,
    feed: chat_feed.ChatFeed | None = None,
) -> dict:
    """Hand back every chat the team has had for TAKEOVER_IDLE_MINUTES without taking or
    answering it again: the bot answers again, the customer is told once (in the website chat
    window, or on WhatsApp through the send gate), and the lead's history records it."""
    now = now or utcnow()
    since = now - timedelta(minutes=settings.takeover_idle_minutes)
    released = told = 0
    for sender_id in takeover.idle_chats(session, since=since):
        if not takeover.resume(session, sender_id=sender_id, only_if_paused=True):
            continue  # another scheduler got there first
        released += 1
        lead = session.execute(
            select(Lead).where(Lead.conversation_id == sender_id).order_by(Lead.id.desc()).limit(1)
        ).scalar_one_or_none()
        if lead is None:
            continue  # erased or never a lead: nobody to tell, no history to write
        detail = {"reason": "idle", "idle_minutes": settings.takeover_idle_minutes}
        detail.update(_tell_released(session, settings, lead, now, feed))
        told += bool(detail.get("told"))
        _record(session, lead, None, "handed_back", lead.status, detail=detail)
    return {"released": released, "told": told}


def _tell_released(
    session: Session,
    settings: Settings,
    lead: Lead,
    now: datetime,
    feed: chat_feed.ChatFeed | None,
) -> dict:
    """Tell the customer in their own chat that the bot is back; what was done, for the history."""
    if is_web_chat(lead.conversation_id):
        shown = ChatReply(
            lead_id=lead.id, conversation_id=lead.conversation_id, body=IDLE_NOTICE, created_at=now
        )
        session.add(shown)
        session.flush()
        for message in (reply_event(shown), {"type": "handback"}):
            chat_feed.publish_after_commit(
                session, feed=feed, conversation_id=lead.conversation_id, message=message
            )
        return {"told": CHAT, "chat_reply_id": shown.id}
    contact = session.get(Contact, lead.contact_id) if lead.contact_id else None
    if contact is None or _chat_channel(session, lead) != "whatsapp":
        return {"told": None}
    context = {"body": IDLE_NOTICE, "subject": None}
    decision = _reply_decision(session, settings, contact, "whatsapp", context, now)
    if decision.outcome == gate.REFUSE:
        return {"told": None, "refused": decision.reason}
    queued = _queue_reply(
        session, settings, contact, "whatsapp", context,
        key=f"takeover_idle:{lead.id}:{now.isoformat()}", now=now,
    )  # fmt: skip
    return {"told": "whatsapp", "outbox_id": queued.message.id}


# --- reads -----------------------------------------------------------------------------------


def history(session: Session, *, lead_ids: list[int]) -> dict[int, list[dict]]:
    """Activity per lead, oldest first (notes may hold personal data: the caller logs reads)."""
    out: dict[int, list[dict]] = {lead_id: [] for lead_id in lead_ids}
    if not lead_ids:
        return out
    rows = session.execute(
        select(LeadActivity, StaffUser.email)
        .outerjoin(StaffUser, StaffUser.id == LeadActivity.actor_id)
        .where(LeadActivity.lead_id.in_(lead_ids))
        .order_by(LeadActivity.created_at, LeadActivity.id)
    )
    for activity, email in rows:
        out[activity.lead_id].append(
            {
                "id": activity.id,
                "action": activity.action,
                "actor": email or "system",
                "from_status": activity.from_status,
                "to_status": activity.to_status,
                "detail": activity.detail or {},
                "at": _iso(activity.created_at),
            }
        )
    return out


def assignable_staff(session: Session) -> list[StaffUser]:
    return list(
        session.execute(
            select(StaffUser)
            .where(StaffUser.active.is_(True), StaffUser.role.in_(ACTING_ROLES))
            .order_by(StaffUser.email)
        ).scalars()
    )


# --- helpers ---------------------------------------------------------------------------------


def _load(session: Session, lead_id: int, actor: StaffUser) -> Lead:
    if actor.role not in ACTING_ROLES:
        raise NotAllowed(f"your role ({actor.role}) can read leads but not act on them")
    lead = session.execute(
        select(Lead).where(Lead.id == lead_id).with_for_update()  # one action at a time
    ).scalar_one_or_none()
    if lead is None:
        raise LeadNotFound(f"there is no lead {lead_id}")
    return lead


def _next(lead: Lead, action: str) -> str:
    after = TRANSITIONS[action].get(lead.status)
    if after is None:
        allowed = ", ".join(TRANSITIONS[action]) or "no status"
        raise InvalidTransition(
            f"cannot {action.replace('_', ' ')} lead {lead.id}: it is {lead.status} "
            f"(allowed when {allowed})"
        )
    return after


def _text(value: str | None, what: str, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(f"{what} is required")
    if len(value) > limit:
        raise InvalidInput(f"{what} is longer than {limit} characters")
    return value


def _record(
    session: Session,
    lead: Lead,
    actor: StaffUser | None,
    action: str,
    before: str,
    *,
    detail: dict | None = None,
) -> LeadActivity:
    activity = LeadActivity(
        lead_id=lead.id,
        actor_id=actor.id if actor else None,
        actor_role=actor.role if actor else None,
        action=action,
        from_status=before,
        to_status=lead.status,
        detail=detail or {},
        created_at=utcnow(),
    )
    session.add(activity)
    session.flush()
    return activity


def chat_channel(session: Session, *, sender_id: str | None) -> str:
    """Where a chat happens: "whatsapp" (a signed Twilio sender) or "web"."""
    return "whatsapp" if _channels_for_chat(session, sender_id)[0] == "whatsapp" else "web"


def _chat_channel(session: Session, lead: Lead) -> str:
    return chat_channel(session, sender_id=lead.conversation_id)


def _channel_order(session: Session, lead: Lead) -> list[str]:
    return _channels_for_chat(session, lead.conversation_id)


def _channels_for_chat(session: Session, sender_id: str | None) -> list[str]:
    on_whatsapp = (sender_id or "").startswith(gate.WHATSAPP_PREFIX) or (
        session.execute(
            select(Conversation.channel).where(Conversation.sender_id == sender_id)
        ).scalar_one_or_none()
        == "whatsapp"
    )
    return ["whatsapp", "email", "sms"] if on_whatsapp else ["email", "sms", "whatsapp"]


def reply_channels(
    session: Session, *, settings: Settings, sender_id: str, now: datetime | None = None
) -> list[str]:
    """The channels on which the gate would let staff reply to this chat's person, best first.

    What the chat can promise when it hands over ("a colleague will reply by email"): the
    channels with an address and the consent a reply needs (a reply the gate would only defer,
    in quiet hours, still counts), then the web chat window itself for a website chat; empty
    when staff could not reach the person at all.
    """
    contact = lookup.contact_for(session, sender_id=sender_id)
    allowed = []
    if contact is not None:
        context = {"body": "", "subject": None}
        allowed = [
            candidate
            for candidate in _channels_for_chat(session, sender_id)
            if _reply_decision(
                session, settings, contact, candidate, context, now or utcnow()
            ).outcome
            != gate.REFUSE
        ]
    return allowed + ([CHAT] if is_web_chat(sender_id) else [])


def _reply_decision(
    session: Session,
    settings: Settings,
    contact: Contact,
    channel: str,
    context: dict,
    now: datetime,
) -> gate.Decision:
    """The send gate's answer for a staff reply (transactional, free text) on one channel."""
    return gate.check(
        session,
        settings=settings,
        contact=contact,
        channel=channel,
        purpose=content.TRANSACTIONAL,
        template=REPLY_TEMPLATE,
        context=context,
        now=now,
    )


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive datetimes stored as UTC
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="seconds")
