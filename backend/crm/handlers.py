"""How the CRM reacts to what happened elsewhere: an outbox push in the same transaction."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.contacts.models import Contact
from backend.crm import service
from backend.events import (
    ConsentRecorded,
    ConsentWithdrawn,
    ContactChanged,
    ContactErased,
    LeadCreated,
)


def push_contact(
    session: Session, event: ConsentRecorded | ConsentWithdrawn | ContactChanged
) -> None:
    """The contact's consented view goes to the CRM (if it changed and may be pushed)."""
    contact = session.get(Contact, event.contact_id)
    if contact is None:
        return
    if isinstance(event, ConsentRecorded):
        cause = f"consent-{event.consent_event_id}"
    elif isinstance(event, ConsentWithdrawn):
        cause = f"consent-{event.consent_event_ids[0]}"
    else:
        cause = event.cause
    service.push_contact(session, contact=contact, cause=cause)


def erase_contact(session: Session, event: ContactErased) -> None:
    """No further pushes; the CRM is told to delete the contact."""
    contact = session.get(Contact, event.contact_id) if event.contact_id is not None else None
    if contact is not None:
        service.erase_contact(session, contact=contact, cause="erasure")


def push_lead(session: Session, event: LeadCreated) -> None:
    """A new lead is pushed with its contact's consented view (sensitive ones are not)."""
    from backend.sales.models import Lead

    lead = session.get(Lead, event.lead_id)
    if lead is not None:
        service.push_lead(session, lead=lead)
