"""Rasa's SQL tracker store, with the backend's SQLite settings and one INSERT per turn.

`endpoints.yml` names this class as the tracker store. It is Rasa's `SQLTrackerStore` (same
`events` table, same queries, Postgres or SQLite by URL) with two changes measured by
`benchmarks/chat_load.py`:

* on SQLite every connection gets the settings the backend uses for the same file (WAL,
  `synchronous=NORMAL`, a busy timeout, see `backend/db.py`): without them each turn's commit
  waits for an fsync and two `rasa run` workers can fail with "database is locked";
* a turn's new events are written with one multi-row INSERT instead of one ORM object each.
"""

from __future__ import annotations

import json
from typing import Any

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy import event, insert

from backend.db import sqlite_pragmas


class BackendSQLTrackerStore(SQLTrackerStore):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", sqlite_pragmas)

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
