"""A contact entered by staff (a phone call, a shop visit, a signed form): the person's details
and the consent they gave there, recorded as ordinary consent events with their ledger entry.

The wording stored with each decision names where the consent was given and the staff user who
recorded it (by id), so the ledger proves who entered what. One person stays one record: an
email or phone already held by a live contact adds to that contact (blanks filled, never
overwritten). Email marketing is never granted here: the person gets the double opt-in link
(as in a chat that has not proved the email) and the consent is theirs when they follow it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from backend import bus
from backend.contacts import identity
from backend.contacts.consent import CHAT, MARKETING, PRIVACY, add_consent_event, consent_state
from backend.contacts.models import ConsentEvent, Contact
from backend.events import ConsentRecorded

SOURCE = "staff"  # consent_events.source of every decision recorded here
MAX_SOURCE = 80


class StaffEntryError(ValueError):
    """The entry cannot be recorded as given (message for the staff user)."""


@dataclass(frozen=True)
class StaffEntry:
    contact: Contact
    created: bool
    events: tuple[ConsentEvent, ...]
    opt_in_sent: bool = False  # email marketing waits for the person's confirmation link


def consent_wording(*, policy_wording: str, consent_source: str, staff_id: int) -> str:
    return (
        f"{policy_wording} [Consent given by {consent_source}; recorded by staff user #{staff_id}.]"
    )


def enter_contact(
    session: Session,
    *,
    name: str | None,
    email: str | None,
    phone_e164: str | None,
    consent_source: str,
    marketing_channels: tuple[str, ...],
    staff_id: int,
    privacy_wording: str,
    marketing_wording: str,
    version: str,
    confirm_email: Callable[..., object],
) -> StaffEntry:
    """Privacy consent (and any marketing consent the person gave) for a contact staff met.

    Values arrive validated (email normalised, phone E.164). Each decision is a consent event
    published as `ConsentRecorded`, so the CRM hears of it like of a chat's. Email marketing goes
    through `confirm_email(conversation=None, contact=...)`, the double opt-in hook.
    """
    consent_source = " ".join((consent_source or "").split())[:MAX_SOURCE]
    if not consent_source:
        raise StaffEntryError("say where the person gave consent (e.g. 'phone call')")
    if not (email or phone_e164):
        raise StaffEntryError("give an email or a phone number")
    by_email = identity.find_person(session, email=email) if email else None
    by_phone = identity.find_person(session, phone=phone_e164) if phone_e164 else None
    if by_email is not None and by_phone is not None and by_email.id != by_phone.id:
        raise StaffEntryError("this email and this phone belong to two different contacts")
    contact = by_email or by_phone
    created = contact is None
    if contact is None:
        contact = Contact(name=name, email=email, phone_e164=phone_e164)
        session.add(contact)
    else:  # the person's own record wins: fill blanks only
        contact.name = contact.name or name
        contact.email = contact.email or email
        contact.phone_e164 = contact.phone_e164 or phone_e164
    session.flush()
    identity.set_keys(session, contact)
    session.flush()

    state = consent_state(session, contact_id=contact.id)
    wanted = [(PRIVACY, CHAT, privacy_wording)] + [
        (MARKETING, channel, marketing_wording) for channel in marketing_channels
    ]
    events = []
    opt_in_sent = False
    for purpose, channel, wording in wanted:
        if state.get((purpose, channel)) is True:
            continue  # already granted: record decisions, not repeats
        if (purpose, channel) == (MARKETING, "email"):
            if contact.email:
                confirm_email(conversation=None, contact=contact)  # to the record's email
                opt_in_sent = True
            continue
        event = add_consent_event(
            session,
            contact=contact,
            purpose=purpose,
            channel=channel,
            granted=True,
            wording=consent_wording(
                policy_wording=wording, consent_source=consent_source, staff_id=staff_id
            ),
            version=version,
            source=SOURCE,
        )
        events.append(event)
        bus.publish(
            session,
            ConsentRecorded(
                contact_id=contact.id,
                consent_event_id=event.id,
                purpose=purpose,
                channel=channel,
                granted=True,
            ),
        )
    return StaffEntry(contact, created, tuple(events), opt_in_sent)
