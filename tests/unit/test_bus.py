"""The event bus runs handlers at once, in the publisher's session, in the wired order."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from backend import bootstrap, bus, events
from backend.events import ConsentWithdrawn, ContactErased, Event


@dataclass(frozen=True)
class Happened(Event):
    value: int


@pytest.fixture
def clean_bus():
    bus.reset()
    yield
    bus.reset()
    bootstrap.wire_handlers()  # leave the process as every other test expects it


def test_handlers_run_in_order_with_the_publishers_session(clean_bus):
    seen = []
    bus.subscribe(Happened, lambda session, event: seen.append(("first", session, event.value)))
    bus.subscribe(Happened, lambda session, event: seen.append(("second", session, event.value)))
    bus.mark_wired()
    session = object()
    bus.publish(session, Happened(3))
    assert seen == [("first", session, 3), ("second", session, 3)]


def test_a_failing_handler_fails_the_publisher(clean_bus):
    def broken(session, event):
        raise RuntimeError("handler failed")

    bus.subscribe(Happened, broken)
    bus.mark_wired()
    with pytest.raises(RuntimeError):
        bus.publish(object(), Happened(1))


def test_publishing_before_wiring_wires_the_bootstrap_table(clean_bus):
    assert bus.handlers_for(ContactErased) == []
    bus.publish(object(), Happened(1))  # nobody handles it, but the table is now wired
    names = [h.__name__ for h in bus.handlers_for(ContactErased)]
    assert names == ["erase_contact", "redact_erased"]


def test_every_event_has_handlers_in_the_one_table():
    table = bootstrap.handler_table()
    declared = {
        value
        for value in vars(events).values()
        if isinstance(value, type) and issubclass(value, Event) and value is not Event
    }
    assert declared == set(table), "every event is wired in backend/bootstrap.py"
    assert table[ConsentWithdrawn]
