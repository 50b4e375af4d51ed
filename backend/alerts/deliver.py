"""The outbox deliverer of kinds team_slack, team_teams and team_email.

The text is rebuilt from the row's payload (kind, priority, title, link: no customer data).
A channel whose setting was removed since the row was queued is `blocked`, not retried. The
transports come from backend/bootstrap.py (built once per process and settings).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from backend.alerts.service import CHANNELS, OUTBOX_KIND, SETTING
from backend.alerts.transports import AlertText, AlertTransport
from backend.config import Settings
from backend.outbox import queue as outbox
from backend.outbox.models import OutboxMessage

TransportFor = Callable[[Settings, str], AlertTransport]
CHANNEL_OF = {kind: channel for channel, kind in OUTBOX_KIND.items()}


class AlertDeliverer:
    """`(session, message, settings) -> provider_ref` for the team alert kinds."""

    def __init__(self, transport_for: TransportFor):
        self._transport_for = transport_for

    def __call__(self, session: Session, message: OutboxMessage, settings: Settings) -> str:
        channel = CHANNEL_OF[message.kind]
        if not settings.configured(SETTING[channel]):
            raise outbox.Blocked(f"{SETTING[channel].upper()} is not configured")
        payload = message.payload or {}
        alert = AlertText(
            kind=str(payload.get("kind", message.topic)),
            priority=str(payload.get("priority", "")),
            title=str(payload.get("title", "")),
            link=str(payload.get("link", "")),
        )
        session.commit()  # no database lock held while the webhook answers
        return self._transport_for(settings, channel).send(
            alert, ref=f"{message.kind}:{message.id}"
        )


__all__ = ["CHANNELS", "AlertDeliverer"]
