"""The outbox deliverer of kind "crm": consent re-checked, then the configured CRM adapter.

The adapter comes from `crm_for(settings)`, which backend/bootstrap.py gives (built once per
process and settings, not once per message); bootstrap registers the deliverer.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from backend.config import Settings
from backend.crm import service
from backend.crm.adapters import Crm
from backend.outbox.models import OutboxMessage

KIND = service.KIND


class CrmDeliverer:
    """`(session, message, settings) -> provider_ref` for outbox rows of kind "crm"."""

    def __init__(self, crm_for: Callable[[Settings], Crm]):
        self._crm_for = crm_for

    def __call__(self, session: Session, message: OutboxMessage, settings: Settings) -> str:
        push = service.prepare(session, message=message)  # raises outbox.Blocked
        if push is None:
            return "superseded"  # a newer push of this contact carries a fresher view
        session.commit()  # end the read transaction: no database lock while HubSpot answers
        crm = self._crm_for(settings)
        if push.operation == "erase":
            return crm.erase(session, push)
        return crm.upsert(session, push)
