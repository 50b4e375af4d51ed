"""The outbox deliverer of kind "crm": consent re-checked, then the configured CRM adapter."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.config import Settings
from backend.crm import outbox, service
from backend.crm.adapters import crm_for
from backend.crm.models import OutboxMessage


def deliver_crm(session: Session, message: OutboxMessage, settings: Settings) -> str:
    push = service.prepare(session, message=message)  # raises outbox.Blocked
    if push is None:
        return "superseded"  # a newer push of this contact carries a fresher view
    session.commit()  # end the read transaction: no database lock while HubSpot answers
    crm = crm_for(settings)
    if push.operation == "erase":
        return crm.erase(session, push)
    return crm.upsert(session, push)


outbox.register(service.KIND, deliver_crm)
