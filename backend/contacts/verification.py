"""Proof that a chat belongs to the person: one-time codes and the double opt-in link.

A code goes to the email/phone the record already holds (never to an address typed in the chat
that asks), through the outbox and the send gate (purpose `verification`). Only a keyed hash of
the code is stored; five wrong tries or ten minutes end a code. The double opt-in link for email
marketing consent given in a web chat carries a signed id and the code; following it records
the consent (source `double_opt_in`).

Sending is a function passed in (`send(contact=..., channel=..., template=..., context=...,
key=...)`), wired by the entrypoint to the messaging area's queue (no cross-area import here).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.contacts.identity import mark_verified
from backend.contacts.models import Contact, Conversation, IdentityCheck
from backend.db import aware, utcnow

log = logging.getLogger(__name__)

CODE_LIFETIME = timedelta(minutes=10)
OPT_IN_LIFETIME = timedelta(days=7)
MAX_ATTEMPTS = 5
ACCESS, ERASURE, MARKETING_EMAIL = "access", "erasure", "marketing_email"
CONFIRM_SALT = "double-opt-in"
DOUBLE_OPT_IN_WORDING = (
    "Confirmed by following the link we emailed after the chat request for offers and "
    "wellness tips by email."
)

Send = Callable[..., object]


class VerificationError(ValueError):
    """The code or link is wrong, used or expired (message says which, for the person)."""


def code_hash(key: str, check_id: str, code: str) -> str:
    return hmac.new(key.encode(), f"{check_id}:{code}".encode(), hashlib.sha256).hexdigest()


def proof_channel(contact: Contact) -> str | None:
    """Where a code can go: the record's own email, else its phone (SMS)."""
    if contact.email:
        return "email"
    if contact.phone_e164:
        return "sms"
    return None


@dataclass(frozen=True)
class CodeSent:
    check_id: str
    channel: str  # email | sms
    to: str  # the address, masked, for the chat to say where the code went


def send_code(
    session: Session,
    *,
    key: str,
    conversation: Conversation,
    contact: Contact,
    purpose: str,
    send: Send,
) -> CodeSent | None:
    """A fresh six-digit code for this chat, queued to the record's own email/phone; None when
    the record has no address to prove it with."""
    channel = proof_channel(contact)
    if channel is None:
        return None
    code = f"{secrets.randbelow(1_000_000):06d}"
    check = IdentityCheck(
        contact_id=contact.id,
        conversation_id=conversation.id,
        purpose=purpose,
        channel=channel,
        code_hash="",
        expires_at=utcnow() + CODE_LIFETIME,
    )
    session.add(check)
    session.flush()
    check.code_hash = code_hash(key, check.public_id, code)
    send(
        contact=contact,
        channel=channel,
        template="identity_code",
        context={"code": code, "minutes": int(CODE_LIFETIME.total_seconds() // 60)},
        key=f"identity:{check.public_id}",
    )
    session.flush()
    log.info("identity code sent", extra={"check": check.id, "purpose": purpose})
    return CodeSent(check.public_id, channel, masked(contact, channel))


def pending_purpose(session: Session, *, conversation: Conversation) -> str | None:
    """The purpose of this chat's open code (what to do once it is confirmed), or None."""
    check = _open_check(session, conversation=conversation)
    return check.purpose if check is not None else None


def _open_check(session: Session, *, conversation: Conversation) -> IdentityCheck | None:
    check = session.execute(
        select(IdentityCheck)
        .where(
            IdentityCheck.conversation_id == conversation.id,
            IdentityCheck.confirmed_at.is_(None),
            IdentityCheck.purpose != MARKETING_EMAIL,
        )
        .order_by(IdentityCheck.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if check is None or aware(check.expires_at) < utcnow() or check.attempts >= MAX_ATTEMPTS:
        return None
    return check


def confirm_code(session: Session, *, key: str, conversation: Conversation, code: str) -> str:
    """Check a code typed in the chat; on success the chat is verified for its contact.

    Returns the purpose it was asked for; VerificationError otherwise (a wrong try counts).
    """
    check = _open_check(session, conversation=conversation)
    if check is None:
        raise VerificationError("there is no open code for this chat (it may have expired)")
    digits = "".join(ch for ch in (code or "")[:40] if ch.isdigit())
    if not hmac.compare_digest(check.code_hash, code_hash(key, check.public_id, digits)):
        check.attempts += 1
        session.flush()
        raise VerificationError("that code is not right")
    if check.contact_id != conversation.contact_id:
        raise VerificationError("that code was sent for another record")
    check.confirmed_at = utcnow()
    mark_verified(session, conversation=conversation)
    return check.purpose


# --- double opt-in -----------------------------------------------------------------------------


def _serializer(key: str) -> URLSafeSerializer:
    return URLSafeSerializer(key, salt=CONFIRM_SALT)


def start_double_opt_in(
    session: Session,
    *,
    key: str,
    base_url: str,
    conversation: Conversation | None,
    contact: Contact,
    send: Send,
) -> IdentityCheck | None:
    """Email marketing asked for in a chat that has not proved the email (or entered by staff,
    `conversation` None): a confirmation link to the record's email; nothing is granted until it
    is followed. One open link per contact."""
    if not contact.email:
        return None
    open_link = session.execute(
        select(IdentityCheck).where(
            IdentityCheck.contact_id == contact.id,
            IdentityCheck.purpose == MARKETING_EMAIL,
            IdentityCheck.confirmed_at.is_(None),
            IdentityCheck.expires_at > utcnow(),
        )
    ).first()
    if open_link is not None:
        return open_link[0]
    secret = secrets.token_urlsafe(16)
    check = IdentityCheck(
        contact_id=contact.id,
        conversation_id=conversation.id if conversation is not None else None,
        purpose=MARKETING_EMAIL,
        channel="email",
        code_hash="",
        expires_at=utcnow() + OPT_IN_LIFETIME,
    )
    session.add(check)
    session.flush()
    check.code_hash = code_hash(key, check.public_id, secret)
    token = _serializer(key).dumps({"i": check.public_id, "s": secret})
    send(
        contact=contact,
        channel="email",
        template="confirm_subscription",
        context={"confirm_url": f"{base_url.rstrip('/')}/confirm-subscription/{token}"},
        key=f"double-opt-in:{check.public_id}",
    )
    session.flush()
    return check


def confirm_double_opt_in(session: Session, *, key: str, token: str, version: str) -> bool:
    """Follow the confirmation link: email marketing consent is recorded (idempotent: a second
    click records nothing). False when the link was already used; VerificationError if bad."""
    from backend.contacts.identity import resolve
    from backend.contacts.service import MARKETING, add_consent_event

    try:
        data = _serializer(key).loads(token)
        check_id, secret = str(data["i"]), str(data["s"])
    except (BadSignature, KeyError, TypeError):
        raise VerificationError("this confirmation link is not valid") from None
    check = session.execute(
        select(IdentityCheck).where(IdentityCheck.public_id == check_id).with_for_update()
    ).scalar_one_or_none()
    if check is None or not hmac.compare_digest(
        check.code_hash, code_hash(key, check.public_id, secret)
    ):
        raise VerificationError("this confirmation link is not valid")
    if check.confirmed_at is not None:
        return False
    if aware(check.expires_at) < utcnow():
        raise VerificationError("this confirmation link has expired: ask again in the chat")
    contact = resolve(session, session.get(Contact, check.contact_id))
    if contact is None or contact.erased_at is not None:
        raise VerificationError("this confirmation link is not valid")
    check.confirmed_at = utcnow()
    add_consent_event(
        session,
        contact=contact,
        purpose=MARKETING,
        channel="email",
        granted=True,
        wording=DOUBLE_OPT_IN_WORDING,
        version=version,
        source="double_opt_in",
    )
    return True


# --- the chat side --------------------------------------------------------------------------------


def request_chat_proof(
    session: Session, *, key: str, sender_id: str, purpose: str, send: Send
) -> CodeSent | None:
    """A code for this chat's contact (access or erasure asked in a chat that has not proved
    it is the person); None when there is no record or no address to send it to."""
    from backend.contacts.service import contact_for, find_conversation

    conversation = find_conversation(session, sender_id=sender_id)
    contact = contact_for(session, sender_id=sender_id)
    if conversation is None or contact is None:
        return None
    return send_code(
        session, key=key, conversation=conversation, contact=contact, purpose=purpose, send=send
    )


def confirm_chat_code(session: Session, *, key: str, sender_id: str, code: str) -> str:
    """The code typed in the chat; returns the purpose to carry on with (VerificationError)."""
    from backend.contacts.service import find_conversation

    conversation = find_conversation(session, sender_id=sender_id)
    if conversation is None:
        raise VerificationError("there is no open code for this chat")
    return confirm_code(session, key=key, conversation=conversation, code=code)


def masked(contact: Contact, channel: str) -> str:
    """Where the code went, without showing the address: j•••@example.com, •••0123."""
    if channel == "email" and contact.email:
        local, _, domain = contact.email.partition("@")
        return f"{local[:1]}•••@{domain}"
    return f"•••{(contact.phone_e164 or '')[-4:]}"


class DoubleOptIn:
    """The `confirm_email` hook of save_contact_details: starts the double opt-in and remembers
    that it did (the chat then says "check your inbox")."""

    def __init__(self, session: Session, *, key: str, base_url: str, send: Send):
        self.session, self.key, self.base_url, self.send = session, key, base_url, send
        self.started = False

    def __call__(self, *, conversation: Conversation | None, contact: Contact) -> None:
        check = start_double_opt_in(
            self.session,
            key=self.key,
            base_url=self.base_url,
            conversation=conversation,
            contact=contact,
            send=self.send,
        )
        self.started = self.started or check is not None
