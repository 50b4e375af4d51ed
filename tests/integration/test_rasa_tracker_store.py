"""The tracker store named in endpoints.yml: Rasa loads it, it round-trips events, SQLite tuned."""

from __future__ import annotations

import pytest
from rasa.core.tracker_store import create_tracker_store
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import read_endpoint_config
from sqlalchemy import create_engine, event, text

from backend.config import ROOT
from backend.rasa_ext.tracker_store import BackendSQLTrackerStore


@pytest.fixture(scope="module")
def domain():
    return Domain.load(str(ROOT / "domain.yml"))


def test_endpoints_yml_loads_this_store_not_the_in_memory_fallback(tmp_path, monkeypatch, domain):
    from backend.config import load_settings
    from backend.supervisor import rasa_env

    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    for name, value in rasa_env(load_settings({"DATABASE_URL": url}, dotenv=False)).items():
        monkeypatch.setenv(name, value)  # what `backend up` gives `rasa run`
    config = read_endpoint_config(str(ROOT / "endpoints.yml"), "tracker_store")
    store = create_tracker_store(config, domain)
    inner = getattr(store, "_tracker_store", store)  # Rasa wraps it in a fail-safe store
    assert isinstance(inner, BackendSQLTrackerStore)
    assert str(inner.engine.url) == url


def _greeted(sender: str, domain) -> DialogueStateTracker:
    tracker = DialogueStateTracker(sender, domain.slots)
    tracker.update(SessionStarted())
    tracker.update(UserUttered("hi", intent={"name": "greet", "confidence": 0.9}))
    return tracker


async def test_turns_round_trip_in_order_across_saves(tmp_path, domain):
    store = BackendSQLTrackerStore(host=f"sqlite:///{tmp_path / 't.db'}", domain=domain)
    tracker = _greeted("visitor-1", domain)
    await store.save(tracker)
    tracker.update(ActionExecuted("utter_greet"))
    tracker.update(SlotSet("goal", "weight_loss"))
    await store.save(tracker)
    await store.save(tracker)  # nothing new: nothing written twice

    again = await store.retrieve("visitor-1")
    assert [e.as_dict()["event"] for e in again.events] == [
        "session_started",
        "user",
        "action",
        "slot",
    ]
    assert again.get_slot("goal") == "weight_loss"
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT intent_name, action_name FROM events ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [
        (None, None),
        ("greet", None),
        (None, "utter_greet"),
        (None, "goal"),
    ]


def test_sqlite_connections_get_the_backend_settings(tmp_path, domain):
    store = BackendSQLTrackerStore(host=f"sqlite:///{tmp_path / 't.db'}", domain=domain)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    # The file stays readable by a plain engine (the backend's erasure job deletes rows here).
    plain = create_engine(f"sqlite:///{tmp_path / 't.db'}")
    with plain.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar() == 0


def _statements(engine) -> list[str]:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2].lower()))
    return seen


async def test_a_loaded_tracker_is_saved_without_counting_and_without_duplicates(tmp_path, domain):
    store = BackendSQLTrackerStore(host=f"sqlite:///{tmp_path / 't.db'}", domain=domain)
    await store.save(_greeted("visitor-2", domain))

    loaded = await store.retrieve("visitor-2")
    loaded.update(ActionExecuted("utter_greet"))
    statements = _statements(store.engine)
    await store.save(loaded)
    await store.save(loaded)  # saved twice in one turn: the second writes nothing
    assert not [s for s in statements if "count(" in s]
    assert len([s for s in statements if s.startswith("insert")]) == 1

    again = await store.retrieve("visitor-2")
    assert [e.as_dict()["event"] for e in again.events] == ["session_started", "user", "action"]


async def test_a_tracker_the_store_did_not_load_is_counted_as_rasa_does(tmp_path, domain):
    store = BackendSQLTrackerStore(host=f"sqlite:///{tmp_path / 't.db'}", domain=domain)
    first = DialogueStateTracker("visitor-3", domain.slots)
    first.update(SessionStarted())
    await store.save(first)
    # As the HTTP API does when a client appends or replaces events: a new tracker object.
    rebuilt = DialogueStateTracker.from_dict(
        "visitor-3", [e.as_dict() for e in first.events] + [SlotSet("goal", "anti_aging").as_dict()]
    )
    statements = _statements(store.engine)
    await store.save(rebuilt)
    assert [s for s in statements if "count(" in s]
    again = await store.retrieve("visitor-3")
    assert [e.as_dict()["event"] for e in again.events] == ["session_started", "slot"]


def test_sqlite_connections_are_pooled(tmp_path, domain):
    store = BackendSQLTrackerStore(host=f"sqlite:///{tmp_path / 't.db'}", domain=domain)
    with store.engine.connect() as conn:
        first = conn.connection.dbapi_connection
    with store.engine.connect() as conn:
        assert conn.connection.dbapi_connection is first
