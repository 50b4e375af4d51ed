"""What a consent withdrawal means for messaging: scheduled follow-ups of that purpose and
channel are cancelled at once and queued messages are blocked (the gate would refuse them at
send time anyway, but staff must not see them as pending)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from backend.messaging.models import FollowUp
from backend.outbox.models import OutboxMessage


def cancel_pending(
    session: Session, *, contact_ids: tuple[int, ...], purpose: str, channels: tuple[str, ...]
) -> int:
    cancelled = session.execute(
        update(FollowUp)
        .where(
            FollowUp.contact_id.in_(contact_ids),
            FollowUp.status == "scheduled",
            FollowUp.purpose == purpose,
            FollowUp.channel.in_(channels),
        )
        .values(status="cancelled")
        .execution_options(synchronize_session=False)
    ).rowcount
    blocked = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.contact_id.in_(contact_ids),
            OutboxMessage.status == "pending",
            OutboxMessage.purpose == purpose,
            OutboxMessage.kind.in_(channels),
        )
        .values(status="blocked", last_error=f"blocked: {purpose} consent withdrawn")
        .execution_options(synchronize_session=False)
    ).rowcount
    return (cancelled or 0) + (blocked or 0)


def verification_sender(session: Session, *, settings):
    """The `send` a one-time code or double opt-in link goes through: the outbox, via the gate
    (purpose `verification`: no consent needed, only the address on the record)."""
    from backend.messaging.service import queue_message

    def send(*, contact, channel: str, template: str, context: dict, key: str):
        return queue_message(
            session,
            settings=settings,
            contact=contact,
            channel=channel,
            template=template,
            purpose="verification",
            context=context,
            idempotency_key=key,
        )

    return send
