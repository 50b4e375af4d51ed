"""backend.rasa_speedups: Rasa behaves as before, only without the repeated work."""

from __future__ import annotations

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import ActionExecuted, Event, SlotSet
from rasa.utils.endpoints import EndpointConfig

from backend import rasa_speedups


@pytest.fixture(scope="module", autouse=True)
def installed():
    rasa_speedups.install()
    rasa_speedups.install()  # idempotent: wrapping twice would be a bug


def _action() -> RemoteAction:
    return RemoteAction("action_x", EndpointConfig("http://127.0.0.1:1"))


def test_the_patches_are_installed_once():
    assert RemoteAction._validate_action_result.__wrapped__.__name__ == "_validate_action_result"
    assert not hasattr(RemoteAction._validate_action_result.__wrapped__, "__wrapped__")
    assert not hasattr(Event.resolve_by_type.__wrapped__, "__wrapped__")


def test_a_valid_action_answer_passes():
    answer = {
        "events": [{"event": "slot", "name": "goal", "value": "weight_loss"}],
        "responses": [{"text": "ok"}],
    }
    assert _action()._validate_action_result(answer) is True


def test_an_invalid_action_answer_is_rejected_with_rasas_message():
    with pytest.raises(ValidationError) as caught:
        _action()._validate_action_result({"events": [{"event": 5}], "responses": []})
    assert "Failed to validate Action server response from API" in caught.value.message
    with pytest.raises(ValidationError):
        _action()._validate_action_result({"events": "not a list"})


def test_event_names_resolve_as_before():
    assert Event.resolve_by_type("slot") is SlotSet
    assert Event.resolve_by_type("action") is ActionExecuted
    assert Event.resolve_by_type("slot") is SlotSet  # from the cache
    assert Event.resolve_by_type("no_such_event", default=SlotSet) is SlotSet
    assert Event.resolve_by_type("topic") is None
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("no_such_event")
    assert Event.from_parameters({"event": "slot", "name": "goal", "value": 1}) == SlotSet(
        "goal", 1
    )
