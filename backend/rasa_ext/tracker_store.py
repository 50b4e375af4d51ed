"""Rasa's SQL tracker store, with the backend's SQLite settings and one INSERT per turn.

`endpoints.yml` names this class as the tracker store. It is Rasa's `SQLTrackerStore` (same
`events` table, same queries, Postgres or SQLite by URL) with these changes, each measured by
`benchmarks/chat_load.py`:

* on SQLite every connection gets the settings the backend uses for the same file (WAL,
  `synchronous=NORMAL`, a busy timeout, see `backend/db.py`): without them each turn's commit
  waits for an fsync and two `rasa run` workers can fail with "database is locked";
* on SQLite connections are pooled (SQLAlchemy 1.4 opens a new one, with its settings, for every
  query on a file database);
* a turn's new events are written with one multi-row INSERT instead of one ORM object each;
* a tracker is loaded with one prepared Core `SELECT data` (the same WHERE and ORDER BY as Rasa's
  ORM query, built once) instead of an ORM query built and turned into objects per turn;
* `save` knows how many events a tracker it loaded already has in the table, so it skips Rasa's
  per-save `COUNT(*)` over the session's events (a tracker it did not load, e.g. one the HTTP API
  replaced, still gets Rasa's count);
* loading it installs the log redaction (`backend.logging_setup`): every `rasa run` names this
  store, whatever channels run.

The speed patches of Rasa's own code (backend/rasa_ext/speedups.py) are installed by the launcher
that starts `rasa run`, not by this class.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy import bindparam, create_engine, event, func, insert, or_, select
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import QueuePool

from backend.db import sqlite_pragmas
from backend.logging_setup import install_record_redaction

# How many of a tracker's events are in the table: set when this store loads or saves it.
_STORED = "_hts_stored_events"


class BackendSQLTrackerStore(SQLTrackerStore):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        install_record_redaction()
        if self.engine.dialect.name == "sqlite":
            url = self.engine.url
            self.engine.dispose()
            pool = {} if url.database in (None, "", ":memory:") else {"poolclass": QueuePool}
            self.engine = create_engine(url, connect_args={"check_same_thread": False}, **pool)
            event.listen(self.engine, "connect", sqlite_pragmas)
            self.sessionmaker = sessionmaker(bind=self.engine)
        self._event_selects = _event_selects(self.SQLEvent.__table__)

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        tracker = await super().retrieve(sender_id)
        if tracker is not None:
            setattr(tracker, _STORED, len(tracker.events))
        return tracker

    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> DialogueStateTracker | None:
        """Rasa's `_retrieve` with the prepared query (see `_event_selects`)."""
        statement = self._event_selects[fetch_events_from_all_sessions]
        with self.session_scope() as session:
            rows = session.execute(statement, {"sender_id": sender_id}).scalars().all()
        if not self.domain or not rows:
            return None
        return DialogueStateTracker.from_dict(
            sender_id, [json.loads(data) for data in rows], self.domain.slots
        )

    def _additional_events(self, session: Any, tracker: DialogueStateTracker) -> Iterator[Event]:
        stored = getattr(tracker, _STORED, None)
        if stored is None or stored > len(tracker.events):
            return super()._additional_events(session, tracker)
        return itertools.islice(tracker.events, stored, len(tracker.events))

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Store the events the database does not have yet (as Rasa's own `save` does)."""
        await self.stream_events(tracker)
        with self.session_scope() as session:
            rows = []
            for tracker_event in self._additional_events(session, tracker):
                data = tracker_event.as_dict()
                rows.append(
                    {
                        "sender_id": tracker.sender_id,
                        "type_name": tracker_event.type_name,
                        "timestamp": data.get("timestamp"),
                        "intent_name": data.get("parse_data", {})
                        .get("intent", {})
                        .get(INTENT_NAME_KEY),
                        "action_name": data.get("name"),
                        "data": json.dumps(data),
                    }
                )
            if rows:
                session.execute(insert(self.SQLEvent.__table__), rows)
            session.commit()
        setattr(tracker, _STORED, len(tracker.events))


def _event_selects(table: Any) -> dict[bool, Any]:
    """Rasa's `SQLTrackerStore._event_query` as Core statements, by "from all sessions".

    The latest session's events are those at or after the latest `session_started` timestamp
    (all of them when there is none), ordered by id; only the `data` column is read.
    """
    sender = table.c.sender_id == bindparam("sender_id")
    session_start = (
        select(func.max(table.c.timestamp))
        .where(sender, table.c.type_name == SessionStarted.type_name)
        .scalar_subquery()
    )
    every = select(table.c.data).where(sender).order_by(table.c.id)
    latest = (
        select(table.c.data)
        .where(sender, or_(table.c.timestamp >= session_start, session_start.is_(None)))
        .order_by(table.c.id)
    )
    return {True: every, False: latest}
