"""One person, one record: identity keys, finding the person, attaching chats, merging records.

A person is one live contact, found by a normalised email (email-validator's normalised form,
Unicode NFKC + casefold, the domain in lowercase IDNA) or an E.164 phone (a WhatsApp sender
`whatsapp:+E164` is the same phone). The keys live in unique columns (`email_key`,
`phone_key`), so two live rows can never hold the same one.

A chat that gives an email/phone already held by another record attaches to that person: its own
fresh record is merged into the existing one. Typed details are claims: a merge only fills
blanks in the survivor and never overwrites, and `may_act` tells the rights code whether this
chat proved it belongs to the person (a signed WhatsApp number or a one-time code).
"""

from __future__ import annotations

import logging
import re
import unicodedata

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend import ledger
from backend.contacts.models import ConsentEvent, Contact, Conversation
from backend.db import Base, utcnow

log = logging.getLogger(__name__)

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
WHATSAPP_PREFIX = "whatsapp:"
# Every table that points at a contact by `contact_id` (consent events excepted: their ledger
# hash covers contact_id, so a merge copies the decisions instead of moving the rows).
CONTACT_LINKED_TABLES = (
    "conversations",
    "orders",
    "leads",
    "follow_ups",
    "outbox_messages",
    "crm_records",
    "data_subject_requests",
    "identity_checks",
)
# Fields a merge may fill in the survivor when it has none (never overwritten).
MERGED_FIELDS = ("name", "email", "phone_e164", "timezone")


# --- keys -----------------------------------------------------------------------------------


def email_key(email: str | None) -> str | None:
    """The identity key of an email, or None when it is not a valid address."""
    if not email or len(email) > 320:
        return None
    try:
        # Keys whatever is stored (validation happened at the edge): reserved domains too.
        result = validate_email(
            email.strip(),
            check_deliverability=False,
            test_environment=True,
            globally_deliverable=False,
        )
    except EmailNotValidError:
        return None
    local = unicodedata.normalize("NFKC", result.local_part).casefold()
    domain = (result.ascii_domain or result.domain).lower()
    return f"{local}@{domain}"


def phone_key(phone: str | None) -> str | None:
    """The E.164 key of a phone or WhatsApp number (`whatsapp:+1415…`), or None."""
    if not phone:
        return None
    value = phone.strip().removeprefix(WHATSAPP_PREFIX).strip()
    if _E164.fullmatch(value):
        return value
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def set_keys(session: Session, contact: Contact) -> None:
    """Recompute the contact's keys from its email and phone. A key another record already
    holds stays unset here (the value is kept, unkeyed): two records that share it are merged
    by a trusted path (`merge_duplicates`), never silently."""
    for column, key in (
        ("email_key", email_key(contact.email)),
        ("phone_key", phone_key(contact.phone_e164)),
    ):
        if key is not None:
            holder = session.execute(
                select(Contact.id).where(getattr(Contact, column) == key, Contact.id != contact.id)
            ).first()
            key = None if holder is not None else key
        setattr(contact, column, key)


# --- finding the person ----------------------------------------------------------------------


def resolve(session: Session, contact: Contact | None) -> Contact | None:
    """Follow merges to the record that stands for the person now."""
    seen = set()
    while contact is not None and contact.merged_into_id is not None and contact.id not in seen:
        seen.add(contact.id)
        contact = session.get(Contact, contact.merged_into_id)
    return contact


def find_person(
    session: Session, *, email: str | None = None, phone: str | None = None
) -> Contact | None:
    """The live contact holding this email or phone (email first), or None."""
    for column, key in (
        (Contact.email_key, email_key(email)),
        (Contact.phone_key, phone_key(phone)),
    ):
        if key is None:
            continue
        contact = session.execute(
            select(Contact).where(column == key, Contact.erased_at.is_(None))
        ).scalar_one_or_none()
        if contact is not None:
            return resolve(session, contact)
    return None


def person_contact_ids(session: Session, *, contact_id: int) -> list[int]:
    """The contact and every record merged into it (transitively): one person's rows."""
    ids, frontier = [contact_id], [contact_id]
    while frontier:
        frontier = list(
            session.execute(
                select(Contact.id).where(Contact.merged_into_id.in_(frontier))
            ).scalars()
        )
        frontier = [i for i in frontier if i not in ids]
        ids += frontier
    return ids


def conversations_of(session: Session, *, contact_id: int) -> list[Conversation]:
    """Every conversation of the person (the contact links to all its chats)."""
    ids = person_contact_ids(session, contact_id=contact_id)
    return list(
        session.execute(
            select(Conversation)
            .where(Conversation.contact_id.in_(ids))
            .order_by(Conversation.created_at, Conversation.id)
        ).scalars()
    )


# --- proof -------------------------------------------------------------------------------------


def channel_proves(conversation: Conversation, contact: Contact) -> bool:
    """A signed WhatsApp/SMS sender whose number is the contact's own phone."""
    number = (
        phone_key(conversation.sender_id)
        if conversation.sender_id.startswith(WHATSAPP_PREFIX)
        else None
    )
    return number is not None and number == contact.phone_key


def may_act(session: Session, *, conversation: Conversation, contact: Contact) -> bool:
    """Whether this chat may read, change or erase what the person's record holds.

    True when the channel proves it (signed WhatsApp number), a one-time code was confirmed in
    this chat, or the record holds nothing but what this chat itself gave (its only chat and
    nothing merged into it).
    """
    if conversation.contact_id != contact.id:
        return False
    if conversation.verified_at is not None or channel_proves(conversation, contact):
        return True
    others = session.execute(
        select(Conversation.id).where(
            Conversation.contact_id == contact.id, Conversation.id != conversation.id
        )
    ).first()
    merged = session.execute(select(Contact.id).where(Contact.merged_into_id == contact.id)).first()
    return others is None and merged is None


# --- attaching and merging --------------------------------------------------------------------


def claim(
    session: Session,
    *,
    conversation: Conversation,
    contact: Contact,
    email: str | None = None,
    phone_e164: str | None = None,
) -> Contact:
    """Details given in a chat: attach the chat to the person who holds them, else keep them.

    Returns the contact the chat now belongs to. When another live record holds this email or
    phone, the chat's record is merged into it as a claim: the existing record keeps everything
    it holds and gains nothing but withdrawals (a typed phone added to someone's record could
    later be "proved" by its typist). A chat that may not act on its record changes nothing.
    """
    other = find_person(session, email=email, phone=phone_e164)
    if other is not None and other.id != contact.id:
        return merge(
            session, survivor=other, duplicate=contact, reason="same email or phone", trusted=False
        )
    if may_act(session, conversation=conversation, contact=contact):
        contact.email = email or contact.email
        contact.phone_e164 = phone_e164 or contact.phone_e164
        set_keys(session, contact)
        session.flush()
    return contact


def _fill(contact: Contact, **values) -> None:
    for field, value in values.items():
        if value and not getattr(contact, field):
            setattr(contact, field, value)


def merge(
    session: Session, *, survivor: Contact, duplicate: Contact, reason: str, trusted: bool = True
) -> Contact:
    """Fold `duplicate` into `survivor`: its rows move, its newer consent decisions are copied
    (the originals stay, ledger-hashed, on the merged record), blanks are filled, one ledger
    entry records the merge (public ids only). Returns the survivor.

    `trusted=False` (a chat's claim): only newer withdrawals are copied and no field is filled,
    so a claim can stop messages to the person but never sign them up or add an address.
    """
    survivor, duplicate = resolve(session, survivor), resolve(session, duplicate)
    if survivor is None or duplicate is None or survivor.id == duplicate.id:
        return survivor
    for name in CONTACT_LINKED_TABLES:
        table = Base.metadata.tables[name]
        session.execute(
            update(table).where(table.c.contact_id == duplicate.id).values(contact_id=survivor.id)
        )
    _copy_newer_consents(
        session, survivor=survivor, duplicate=duplicate, withdrawals_only=not trusted
    )
    values = {field: getattr(duplicate, field) for field in MERGED_FIELDS} if trusted else {}
    if trusted and duplicate.wellness_goal and not survivor.wellness_goal:
        values["wellness_goal"] = duplicate.wellness_goal  # only kept with health consent
    for field in MERGED_FIELDS + ("wellness_goal",):
        setattr(duplicate, field, None)
    duplicate.email_key = duplicate.phone_key = None
    duplicate.merged_into_id = survivor.id
    session.flush()  # the keys are free before the survivor takes them
    _fill(survivor, **values)
    set_keys(session, survivor)
    session.flush()
    ledger.append(
        session,
        entity_type="contact",
        entity_id=survivor.public_id,
        action="merged",
        record={
            "survivor": survivor.public_id,
            "merged": duplicate.public_id,
            "reason": reason,
            "trusted": trusted,
        },
    )
    log.info("contacts merged", extra={"survivor": survivor.id, "merged": duplicate.id})
    return survivor


def _copy_newer_consents(
    session: Session, *, survivor: Contact, duplicate: Contact, withdrawals_only: bool
) -> None:
    from backend.contacts.service import add_consent_event

    def latest(contact_id: int) -> dict[tuple[str, str], ConsentEvent]:
        rows = session.execute(
            select(ConsentEvent)
            .where(ConsentEvent.contact_id == contact_id)
            .order_by(ConsentEvent.created_at, ConsentEvent.id)
        ).scalars()
        return {(e.purpose, e.channel): e for e in rows}

    mine, theirs = latest(survivor.id), latest(duplicate.id)
    for key, event in sorted(theirs.items()):
        if withdrawals_only and event.granted:
            continue
        current = mine.get(key)
        if current is not None and (current.granted == event.granted or _at(current) >= _at(event)):
            continue  # the survivor's decision is the same or newer: it stands
        add_consent_event(
            session,
            contact=survivor,
            purpose=event.purpose,
            channel=event.channel,
            granted=bool(event.granted),
            wording=event.wording,
            version=event.wording_version,
            conversation_id=event.conversation_id,
            source="merge",
        )


def _at(event: ConsentEvent):
    from backend.db import aware

    return aware(event.created_at)


def merge_duplicates(session: Session) -> int:
    """Fold live unkeyed records into the keyed record holding the same email/phone (records
    from before identity keys existed); returns how many were merged."""
    merged = 0
    rows = session.execute(
        select(Contact).where(
            Contact.erased_at.is_(None),
            Contact.merged_into_id.is_(None),
            Contact.email_key.is_(None) & Contact.phone_key.is_(None),
        )
    ).scalars()
    for contact in list(rows):
        other = find_person(session, email=contact.email, phone=contact.phone_e164)
        if other is not None and other.id != contact.id:
            merge(session, survivor=other, duplicate=contact, reason="duplicate record")
            merged += 1
        else:
            set_keys(session, contact)
            session.flush()
    return merged


def mark_verified(session: Session, *, conversation: Conversation) -> None:
    conversation.verified_at = utcnow()
    session.flush()


def email_proved(conversation: Conversation, contact: Contact) -> bool:
    """Whether this chat proved it controls the record (a confirmed one-time code)."""
    return conversation.verified_at is not None and conversation.contact_id == contact.id
