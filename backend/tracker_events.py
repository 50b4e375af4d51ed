"""Rasa's SQL tracker store table (`events`): the one module that reads or erases it.

`rasa run` keeps every conversation event there — including the user's raw text — when its
tracker store shares the backend's DATABASE_URL (endpoints.yml). When the tracker store lives in
another database the table is absent here: reads find nothing and erasures delete nothing
(each function says so by its result), never an error.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

TABLE = "events"  # the name Rasa's SQLTrackerStore gives it


def available(session: Session) -> bool:
    """Whether Rasa's table is in this database."""
    return inspect(session.connection()).has_table(TABLE)


def delete_sender(session: Session, *, sender_id: str, before: datetime | None = None) -> int:
    """Delete a conversation's events (up to `before`, if given); the number of rows deleted."""
    if not available(session):
        return 0
    sql = f"DELETE FROM {TABLE} WHERE sender_id = :sender"  # noqa: S608 - a constant
    params: dict = {"sender": sender_id}
    if before is not None:
        sql += " AND timestamp <= :before"
        params["before"] = before.timestamp()
    return session.execute(text(sql), params).rowcount or 0


def last_user_message_at(session: Session, *, sender_ids: set[str]) -> datetime | None:
    """When any of these conversations last had a user message (None: never, or no table)."""
    if not sender_ids or not available(session):
        return None
    params = {f"s{i}": sender for i, sender in enumerate(sorted(sender_ids))}
    marks = ", ".join(f":{key}" for key in params)
    newest = session.execute(
        text(
            f"SELECT MAX(timestamp) FROM {TABLE} "  # noqa: S608 - constants and bound names
            f"WHERE type_name = 'user' AND sender_id IN ({marks})"
        ),
        params,
    ).scalar()
    return None if newest is None else datetime.fromtimestamp(float(newest), tz=timezone.utc)


def recent_messages(session: Session, *, sender_id: str, limit: int) -> list[dict]:
    """The newest `limit` user and bot events of a conversation, newest first, as Rasa's JSON."""
    if not available(session):
        return []
    rows = session.execute(
        text(
            f"SELECT data FROM {TABLE} "  # noqa: S608 - a constant
            "WHERE sender_id = :sender AND type_name IN ('user', 'bot') "
            "ORDER BY id DESC LIMIT :limit"
        ),
        {"sender": sender_id, "limit": limit},
    ).scalars()
    return [json.loads(raw) for raw in rows]


def personal_events(session: Session, *, sender_id: str) -> list[tuple[int, str, dict]]:
    """A conversation's user and slot events as (row id, type, Rasa's JSON): what may hold
    contact details typed in the chat."""
    if not available(session):
        return []
    rows = session.execute(
        text(
            f"SELECT id, type_name, data FROM {TABLE} "  # noqa: S608 - a constant
            "WHERE sender_id = :sender AND type_name IN ('user', 'slot')"
        ),
        {"sender": sender_id},
    ).all()
    return [(row_id, type_name, json.loads(data)) for row_id, type_name, data in rows]


def rewrite_event(session: Session, *, row_id: int, event: dict) -> None:
    """Replace one stored event's JSON (redaction)."""
    session.execute(
        text(f"UPDATE {TABLE} SET data = :data WHERE id = :id"),  # noqa: S608 - a constant
        {"data": json.dumps(event), "id": row_id},
    )


def silent_senders(session: Session, *, since: datetime) -> list[str]:
    """Conversations whose newest event is older than `since`."""
    if not available(session):
        return []
    return list(
        session.execute(
            text(
                f"SELECT sender_id FROM {TABLE} GROUP BY sender_id "  # noqa: S608 - a constant
                "HAVING MAX(timestamp) < :cutoff"
            ),
            {"cutoff": since.timestamp()},
        ).scalars()
    )


def senders_changed(session: Session, *, after_id: int, limit: int) -> list[tuple[str, int]]:
    """Conversations with events after row `after_id`: (sender id, newest row id), the ones
    changed first first, at most `limit` (the review queue's scan reads on from the last)."""
    if not available(session):
        return []
    rows = session.execute(
        text(
            f"SELECT sender_id, MAX(id) AS newest FROM {TABLE} "  # noqa: S608 - a constant
            "WHERE id > :after GROUP BY sender_id ORDER BY newest LIMIT :limit"
        ),
        {"after": after_id, "limit": limit},
    ).all()
    return [(sender, int(newest)) for sender, newest in rows]


def dialogue(session: Session, *, sender_id: str, limit: int) -> list[tuple[int, dict]]:
    """A conversation's last `limit` user, bot, action and form events, oldest first, as
    (row id, Rasa's JSON): what was said, what the bot did, which slot a form asked for (slot
    events other than `requested_slot` are left out: they may hold contact details)."""
    if not available(session):
        return []
    rows = session.execute(
        text(
            f"SELECT id, type_name, data FROM {TABLE} "  # noqa: S608 - a constant
            "WHERE sender_id = :sender "
            "AND type_name IN ('user', 'bot', 'action', 'active_loop', 'slot') "
            "ORDER BY id DESC LIMIT :limit"
        ),
        {"sender": sender_id, "limit": limit},
    ).all()
    events = [(row_id, type_name, json.loads(data)) for row_id, type_name, data in reversed(rows)]
    return [
        (row_id, data)
        for row_id, type_name, data in events
        if type_name != "slot" or data.get("name") == "requested_slot"
    ]
