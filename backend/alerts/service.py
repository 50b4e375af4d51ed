"""Raise team alerts: one per (kind, entity), queued in the outbox on each configured channel.

`raise_alert` stores a `TeamAlert` (no customer data: kind, priority, entity id, a dashboard
link) and, for every channel that is configured, an outbox row of kind `team_slack`,
`team_teams` or `team_email` in the same transaction. These kinds are their own outbox lanes
with their own circuit breakers, and they do not pass the customer send gate (no consent is
involved: the message goes to staff and names no customer). A channel left empty or holding a
placeholder is "not configured": the alert is then only listed on /dashboard/alerts.
Functions flush, never commit.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.alerts.models import TeamAlert
from backend.config import Settings
from backend.outbox import queue as outbox
from backend.outbox.models import OutboxMessage

CHANNELS = ("slack", "teams", "email")
SETTING = {
    "slack": "team_slack_webhook_url",
    "teams": "team_teams_webhook_url",
    "email": "team_alert_email",
}
OUTBOX_KIND = {channel: f"team_{channel}" for channel in CHANNELS}
KINDS = ("urgent_lead", "handoff", "sla_warning", "sla_breach", "outbox_dead", "ledger_mismatch")


def configured_channels(settings: Settings) -> list[str]:
    return [channel for channel in CHANNELS if settings.configured(SETTING[channel])]


def channel_status(settings: Settings) -> dict[str, bool]:
    """Each channel: configured or not (never the URL or address itself)."""
    return {channel: settings.configured(SETTING[channel]) for channel in CHANNELS}


def _key(alert_id: int, channel: str) -> str:
    return f"team-alert:{alert_id}:{channel}"


def raise_alert(
    session: Session,
    *,
    settings: Settings,
    kind: str,
    priority: str,
    entity_type: str,
    entity_id: str | int,
    title: str,
    path: str,
) -> TeamAlert | None:
    """The alert for this kind and entity, queued on the configured channels; None when the
    team was already alerted (one alert per lead, or record, per kind)."""
    entity_id = str(entity_id)
    if _existing(session, kind, entity_type, entity_id) is not None:
        return None
    channels = configured_channels(settings)
    alert = TeamAlert(
        kind=kind, priority=priority, entity_type=entity_type, entity_id=entity_id,
        title=title[:200], link=f"{settings.public_base_url.rstrip('/')}{path}"[:500],
        channels=channels,
    )  # fmt: skip
    try:
        with session.begin_nested():  # a concurrent worker raising the same alert loses this row
            session.add(alert)
    except IntegrityError:
        return None
    payload = {"alert_id": alert.id, "kind": kind, "priority": priority, "title": alert.title,
               "link": alert.link}  # fmt: skip
    for channel in channels:
        outbox.enqueue(
            session, kind=OUTBOX_KIND[channel], topic=kind, purpose="team_alert",
            payload=payload, idempotency_key=_key(alert.id, channel),
            recipient=settings.team_alert_email if channel == "email" else None,
        )  # fmt: skip
    session.flush()
    return alert


def _existing(session: Session, kind: str, entity_type: str, entity_id: str) -> TeamAlert | None:
    return session.execute(
        select(TeamAlert).where(
            TeamAlert.kind == kind,
            TeamAlert.entity_type == entity_type,
            TeamAlert.entity_id == entity_id,
        )
    ).scalar_one_or_none()


def recent(session: Session, *, limit: int = 50) -> list[dict]:
    """The latest alerts, newest first, each with its delivery status per channel."""
    alerts = list(
        session.execute(select(TeamAlert).order_by(TeamAlert.id.desc()).limit(limit)).scalars()
    )
    keys = [_key(a.id, channel) for a in alerts for channel in a.channels or []]
    status = {}
    if keys:
        status = dict(
            session.execute(
                select(OutboxMessage.idempotency_key, OutboxMessage.status).where(
                    OutboxMessage.idempotency_key.in_(keys)
                )
            ).all()
        )
    return [
        {
            "id": a.id,
            "kind": a.kind,
            "priority": a.priority,
            "entity": f"{a.entity_type} {a.entity_id}",
            "title": a.title,
            "link": a.link,
            "created_at": a.created_at.isoformat(timespec="seconds") if a.created_at else None,
            "delivery": {c: status.get(_key(a.id, c), "gone") for c in a.channels or []},
        }
        for a in alerts
    ]
