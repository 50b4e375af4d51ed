"""The outbox deliverers of kinds email, sms and whatsapp: the gate again, then the provider.

The gate is asked again at delivery time (consent may have been withdrawn, the contact erased or
the WhatsApp window closed since the row was queued): refuse → outbox.Blocked, quiet hours →
outbox.Deferred. The final text sent is stored in the row's payload (`sent`): the record of
what went out, also when no provider is configured (local). The senders come from
backend/bootstrap.py (built once per process and settings), which registers the deliverer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from backend.config import Settings
from backend.contacts.models import Contact
from backend.db import utcnow
from backend.messaging import adapters, gate, service
from backend.outbox import queue as outbox
from backend.outbox.models import OutboxMessage

# The delivery-time clock (tests set a fixed one; quiet hours depend on it).
clock: Callable[[], datetime] = utcnow


SenderFor = Callable[[Settings], adapters.MessageSender]


class MessageDeliverer:
    """`(session, message, settings) -> provider_ref` for rows of kind email, sms, whatsapp."""

    def __init__(self, *, email_for: SenderFor, text_for: SenderFor):
        self._email_for, self._text_for = email_for, text_for

    def __call__(self, session: Session, message: OutboxMessage, settings: Settings) -> str:
        sender_for = self._email_for if message.kind == "email" else self._text_for
        return deliver_message(session, message, settings, sender_for=sender_for)


def deliver_message(
    session: Session, message: OutboxMessage, settings: Settings, *, sender_for: SenderFor
) -> str:
    payload = dict(message.payload or {})
    if payload.get("erased"):
        raise outbox.Blocked("contact erased")
    contact = session.get(Contact, message.contact_id) if message.contact_id else None
    decision = gate.check(
        session,
        settings=settings,
        contact=contact,
        channel=message.kind,
        purpose=message.purpose,
        template=payload.get("template", ""),
        context=payload.get("context") or {},
        now=clock(),
    )
    if decision.outcome == gate.REFUSE:
        raise outbox.Blocked(decision.reason)
    if decision.outcome == gate.DEFER:
        raise outbox.Deferred(decision.not_before, decision.reason)
    outgoing = decision.message
    session.commit()  # end the read transaction: no database lock while the provider answers
    sender = sender_for(settings)
    try:
        ref = sender.send(outgoing, ref=f"{message.kind}:{message.id}")
    except adapters.RecipientUnsubscribed:
        # The recipient replied STOP to our number: record the withdrawal (its own commit:
        # the outbox rolls back the deliverer's session on Blocked), then stop this message.
        service.record_stop(session, settings=settings, contact=contact, channel=message.kind)
        session.commit()
        raise outbox.Blocked("recipient unsubscribed at the provider (STOP)") from None
    payload["sent"] = {
        "via": sender.name,
        "subject": outgoing.subject,
        "body": outgoing.body,
    }
    message.payload = payload  # a new dict: the JSON column sees the change
    message.recipient = outgoing.to
    return ref
