"""Conversations written the way Rasa's SQL tracker store writes them, for the review queue."""

from __future__ import annotations

import itertools
import json

from sqlalchemy import text

from tests.integration.messaging_support import V, accept_privacy  # noqa: F401

_clock = itertools.count(1_000)


def ensure_events_table(session) -> None:
    """Rasa's `events` table as its SQL tracker store creates it (same database)."""
    serial = "SERIAL" if session.bind.dialect.name == "postgresql" else "INTEGER"
    session.execute(
        text(
            f"CREATE TABLE IF NOT EXISTS events (id {serial} PRIMARY KEY, sender_id VARCHAR(255), "
            "type_name VARCHAR(255), timestamp FLOAT, intent_name VARCHAR(255), "
            "action_name VARCHAR(255), data TEXT)"
        )
    )


def user(said: str, intent: str, ranking: list[tuple[str, float]] | None = None, **parse) -> dict:
    """A user event; `ranking` defaults to the intent alone at 0.95."""
    ranking = ranking or [(intent, 0.95)]
    return {
        "event": "user",
        "text": said,
        "message_id": f"m{next(_clock)}",
        "parse_data": {
            "text": said,
            "intent": {"name": intent, "confidence": ranking[0][1]},
            "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking],
            "entities": parse.pop("entities", []),
            **parse,
        },
    }


def bot(said: str) -> dict:
    return {"event": "bot", "text": said}


def action(name: str) -> dict:
    return {"event": "action", "name": name}


def asked(slot: str | None) -> dict:
    return {"event": "slot", "name": "requested_slot", "value": slot}


def loop(name: str | None) -> dict:
    return {"event": "active_loop", "name": name}


def write_chat(session, sender: str, events: list[dict]) -> None:
    ensure_events_table(session)
    for data in events:
        stamp = float(next(_clock))
        data = {**data, "timestamp": stamp}
        session.execute(
            text(
                "INSERT INTO events (sender_id, type_name, timestamp, data) "
                "VALUES (:s, :t, :ts, :d)"
            ),
            {"s": sender, "t": data["event"], "ts": stamp, "d": json.dumps(data)},
        )
