"""How sales reacts to what happened elsewhere."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.events import ContactErased
from backend.sales.service import redact_leads


def redact_erased(session: Session, event: ContactErased) -> None:
    """Leads keep kind and timing for reporting, lose personal details; chat replies go."""
    redact_leads(session, contact_id=event.contact_id, conversation_id=event.conversation_id)
