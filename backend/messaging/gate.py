"""The one send gate: may this message go to this contact on this channel now, and as what text.

`check` is called twice for every message: when it is queued (the follow-up job) and again by
the outbox deliverer just before the provider call, because consent may have been withdrawn,
the contact erased or the WhatsApp window closed in between. It decides, in this order:

1. refuse: unknown channel or template, a marketing template sent as "transactional", an
   erased contact, a withdrawn privacy consent, no address for the channel;
2. refuse: no current consent for the purpose on the channel (backend/contacts/consent.py: the
   latest decision for that purpose and channel wins). Transactional messages need
   transactional consent for their channel, marketing ones marketing consent;
3. refuse: WhatsApp outside the 24-hour customer-service window (no inbound WhatsApp message
   from the contact in the last 24 h) unless the template is an approved one (free text never);
4. defer: marketing in the recipient's quiet hours (before 08:00 or from 21:00 local time, in
   contact.timezone, else SHOP_TIMEZONE) goes at the next 08:00 local time (zoneinfo: DST-safe);
5. otherwise send. The text is the rendered template plus the opt-out line ("Reply STOP to opt
   out." on SMS/WhatsApp; a signed unsubscribe link in email) and, in marketing email, the
   shop's postal address. The wellness goal is left out once health-data consent is gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from backend import tracker_events
from backend.config import Settings
from backend.contacts import consent
from backend.contacts.models import Contact, Conversation
from backend.db import aware
from backend.messaging import content

CHANNELS = consent.CHANNELS  # the one list of channels we send on
SEND, DEFER, REFUSE = "send", "defer", "refuse"
QUIET_UNTIL = time(8, 0)  # marketing may go from 08:00 …
QUIET_FROM = time(21, 0)  # … until 21:00, recipient's local time
WHATSAPP_WINDOW = timedelta(hours=24)
STOP_LINE = "Reply STOP to opt out."
UNSUBSCRIBE_SALT = "unsubscribe-link"
WHATSAPP_PREFIX = "whatsapp:"


@dataclass(frozen=True)
class Outgoing:
    """The final message as the provider receives it."""

    channel: str
    to: str
    body: str
    subject: str = ""
    unsubscribe_url: str = ""  # email only

    def as_dict(self) -> dict:
        return {
            "channel": self.channel,
            "to": self.to,
            "subject": self.subject,
            "body": self.body,
            "unsubscribe_url": self.unsubscribe_url,
        }


@dataclass(frozen=True)
class Decision:
    outcome: str  # send | defer | refuse
    reason: str = ""
    not_before: datetime | None = None  # defer: the earliest time it may go (UTC)
    message: Outgoing | None = field(default=None, repr=False)

    @property
    def allowed(self) -> bool:
        return self.outcome == SEND


def _refuse(reason: str) -> Decision:
    return Decision(REFUSE, reason=reason)


def check(
    session: Session,
    *,
    settings: Settings,
    contact: Contact | None,
    channel: str,
    purpose: str,
    template: str,
    context: dict | None = None,
    now: datetime | None = None,
) -> Decision:
    """Decide whether the message may go now (see the module docstring for the rules)."""
    now = aware(now or datetime.now(timezone.utc))
    if channel not in CHANNELS:
        return _refuse(f"unknown channel {channel!r}")
    if purpose not in content.PURPOSES:
        return _refuse(f"unknown purpose {purpose!r}")
    try:
        spec = content.template(template)
    except content.UnknownTemplate:
        return _refuse(f"unknown template {template!r}")
    if spec.purpose == content.MARKETING and purpose != content.MARKETING:
        return _refuse(f"template {template} is marketing and needs marketing consent")
    if contact is None or contact.erased_at is not None:
        return _refuse("contact erased")
    state = consent.consent_state(session, contact_id=contact.id)
    if state.get((consent.PRIVACY, consent.CHAT)) is False:
        return _refuse("privacy consent withdrawn")
    address = recipient_address(contact, channel)
    if not address:
        return _refuse(f"no {'email address' if channel == 'email' else 'phone number'}")
    if purpose != content.VERIFICATION and not state.get((purpose, channel)):
        return _refuse(f"no {purpose} consent for {channel}")
    if channel == "whatsapp" and template not in content.WHATSAPP_APPROVED:
        last = last_inbound_whatsapp(session, contact=contact)
        if last is None or now - last > WHATSAPP_WINDOW:
            return _refuse(
                "outside the WhatsApp 24-hour window: only approved templates may be sent"
            )
    values = dict(context or {})
    if not state.get((consent.HEALTH, consent.CHAT)):
        values["goal_label"] = None  # health data: only while its consent holds
        if values.get("products_from_goal"):
            values["products"] = []  # products picked for the goal would reveal it
    try:
        message = _final_message(
            settings, contact=contact, channel=channel, purpose=purpose, template=template,
            context=values, to=address,
        )  # fmt: skip
    except content.MissingValue as exc:
        return _refuse(str(exc))
    if purpose == content.MARKETING:
        until = quiet_hours_end(now, zone=recipient_zone(contact, settings))
        if until is not None:
            return Decision(DEFER, reason="quiet hours", not_before=until, message=message)
    return Decision(SEND, message=message)


# --- recipients, time zones, the WhatsApp window --------------------------------------------


def recipient_address(contact: Contact, channel: str) -> str | None:
    if channel == "email":
        return contact.email or None
    if not contact.phone_e164:
        return None
    return f"{WHATSAPP_PREFIX}{contact.phone_e164}" if channel == "whatsapp" else contact.phone_e164


def recipient_zone(contact: Contact, settings: Settings) -> ZoneInfo:
    """The contact's time zone, else the shop's (an unknown zone name falls back too)."""
    if contact.timezone:
        try:
            return ZoneInfo(contact.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return settings.timezone


def quiet_hours_end(now: datetime, *, zone: ZoneInfo) -> datetime | None:
    """None inside 08:00–21:00 local time; else the next 08:00 local time, in UTC.

    The date is advanced on the calendar and 08:00 attached as wall-clock time, so a DST change
    overnight still gives 08:00 local (not 07:00 or 09:00).
    """
    local = now.astimezone(zone)
    if QUIET_UNTIL <= local.time() < QUIET_FROM:
        return None
    day = local.date() if local.time() < QUIET_UNTIL else local.date() + timedelta(days=1)
    return datetime.combine(day, QUIET_UNTIL, tzinfo=zone).astimezone(timezone.utc)


def last_inbound_whatsapp(session: Session, *, contact: Contact) -> datetime | None:
    """When the contact last wrote to us on WhatsApp.

    Two sources: `Conversation.last_inbound_at` (set through `record_inbound`) and, when Rasa's
    SQL tracker store lives in this database, the newest `user` event of the contact's WhatsApp
    sender ids (`whatsapp:+E164`). The later of the two counts.
    """
    conversations = session.execute(
        select(Conversation.sender_id, Conversation.last_inbound_at).where(
            Conversation.contact_id == contact.id,
            or_(
                Conversation.channel == "whatsapp",
                Conversation.sender_id.like(f"{WHATSAPP_PREFIX}%"),
            ),
        )
    ).all()
    times = [aware(at) for _, at in conversations if at is not None]
    senders = {sender for sender, _ in conversations if sender.startswith(WHATSAPP_PREFIX)}
    if contact.phone_e164:
        senders.add(f"{WHATSAPP_PREFIX}{contact.phone_e164}")
    newest = tracker_events.last_user_message_at(session, sender_ids=senders)
    if newest is not None:
        times.append(newest)
    return max(times) if times else None


def record_inbound(session: Session, *, sender_id: str, at: datetime | None = None) -> bool:
    """Note an inbound message of a chat (opens the WhatsApp window); False: unknown chat."""
    conversation = session.execute(
        select(Conversation).where(Conversation.sender_id == sender_id)
    ).scalar_one_or_none()
    if conversation is None:
        return False
    conversation.last_inbound_at = aware(at or datetime.now(timezone.utc))
    session.flush()
    return True


# --- the final text and the unsubscribe link -------------------------------------------------


def _final_message(
    settings: Settings,
    *,
    contact: Contact,
    channel: str,
    purpose: str,
    template: str,
    context: dict,
    to: str,
) -> Outgoing:
    values = {
        "shop_name": settings.shop_name,
        "shop_url": settings.public_base_url.rstrip("/") + "/",
        **context,
    }
    subject, body = content.render(template, channel=channel, context=values)
    if channel != "email":
        return Outgoing(channel, to, f"{body}\n{STOP_LINE}")
    link = unsubscribe_url(settings, contact=contact)
    footer = ["", "--"]
    if purpose == content.MARKETING:
        footer += [
            "You receive this because you agreed to hear from us. To stop all offers and tips "
            f"from {settings.shop_name} (email, SMS and WhatsApp), unsubscribe here: {link}",
            f"{settings.shop_name}, {settings.shop_address}",
        ]
    else:
        footer.append(f"No offers or tips from {settings.shop_name}, please? Unsubscribe: {link}")
    return Outgoing(channel, to, "\n".join([body, *footer]), subject=subject, unsubscribe_url=link)


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.session_secret, salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(settings: Settings, *, contact: Contact) -> str:
    # No expiry: an unsubscribe link must keep working for as long as old emails are around.
    return _serializer(settings).dumps({"c": contact.public_id})


def unsubscribe_url(settings: Settings, *, contact: Contact) -> str:
    base = settings.public_base_url.rstrip("/")
    return f"{base}/unsubscribe/{unsubscribe_token(settings, contact=contact)}"


class BadUnsubscribeToken(ValueError):
    """The link was not made by this shop (edited, forged or cut short)."""


def read_unsubscribe_token(settings: Settings, token: str) -> str:
    """The contact public id a valid token names; BadUnsubscribeToken otherwise."""
    try:
        data = _serializer(settings).loads(token)
    except BadSignature:
        raise BadUnsubscribeToken("this unsubscribe link is not valid") from None
    if not isinstance(data, dict) or not isinstance(data.get("c"), str):
        raise BadUnsubscribeToken("this unsubscribe link is not valid")
    return data["c"]
