"""backend.rasa_ext.speedups, conversation states: Rasa's states and predictions, resumed.

The trackers are the project's own stories, rules and test stories (and variants of them with a
session start, a restart, a reverted user message or action, hidden rule turns and a policy's
choice of text or intent), built event by event on one tracker object as the processor does
within a turn. The predictions need models/current.tar.gz (scripts/test.sh trains it before
pytest); skipped without it.
"""

from __future__ import annotations

import copy
import random

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionReverted,
    DefinePrevUserUtteredFeaturization,
    EntitiesAdded,
    Restarted,
    SessionStarted,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from backend.rasa_ext import speedups as rasa_speedups
from benchmarks.past_states import ROOT, project_trackers

MODEL = ROOT / "models" / "current.tar.gz"


@pytest.fixture(scope="module", autouse=True)
def installed():
    rasa_speedups.install()


def rasas_states(domain, tracker, *args):
    return Domain.states_for_tracker_history.__wrapped__(domain, tracker, *args)


@pytest.fixture(scope="module")
def project():
    domain, trackers = project_trackers()
    assert len(trackers) >= 60 and any(t.is_rule_tracker for t in trackers)
    return domain, trackers


def _variants(events: list) -> list[list]:
    """The events as they are, and with the turns that change what Rasa replays."""
    rng = random.Random(len(events))
    listen = [i for i, e in enumerate(events) if isinstance(e, UserUttered)]
    middle = listen[len(listen) // 2] if listen else len(events)
    hidden = [
        ActionExecuted(e.action_name, hide_rule_turn=rng.random() < 0.4)
        if isinstance(e, ActionExecuted) and e.action_name != "action_listen"
        else e
        for e in events
    ]
    return [
        events,
        [ActionExecuted("action_session_start"), SessionStarted()] + events,
        events[:middle] + [ActionExecuted("action_restart"), Restarted()] + events,
        events[: middle + 1] + [UserUtteranceReverted()] + events[middle:],
        events[: middle + 2] + [ActionReverted()] + events[middle + 1 :],
        hidden,
        _featurization_chosen(copy.deepcopy(events)),
    ]


def _featurization_chosen(events: list) -> list:
    """A policy's choice of text or intent after each user message: it edits that message."""
    chosen = []
    for i, event in enumerate(events):
        chosen.append(event)
        if isinstance(event, UserUttered):
            chosen.append(DefinePrevUserUtteredFeaturization(i % 2 == 0))
    return chosen


def _combinations(domain) -> list[tuple]:
    """Every argument combination: the policies' (omit False) and training's (omit True)."""
    slots = [s.name for s in domain.slots if s.influence_conversation][:3]
    rule_only = {"rule_only_slots": slots, "rule_only_loops": list(domain.form_names)[:1]}
    return [
        (False, False, None),
        (False, True, rule_only),
        (False, True, {"rule_only_slots": [], "rule_only_loops": []}),
        (True, False, None),
        (True, True, rule_only),
    ]


def _sharing(states: list) -> list:
    """Which sub-states are the same object (the featurizer's edits reach all of them)."""
    first: dict[int, tuple] = {}
    return [
        {name: first.setdefault(id(sub), (i, name)) for name, sub in state.items()}
        for i, state in enumerate(states)
    ]


def _scribble(states: list) -> None:
    """What a caller may do to the states it gets, and more."""
    for state in states:
        for sub_state in state.values():
            sub_state.pop("text", None)
            sub_state["intent"] = "scribbled"
        state.clear()
    states.clear()


def _assert_rasas_states(domain, tracker, combinations) -> None:
    expected_events = DialogueStateTracker.applied_events.__wrapped__(tracker)
    applied = tracker.applied_events()
    assert list(map(id, applied)) == list(map(id, expected_events))
    applied.clear()  # a caller's list: the kept one is intact
    assert list(map(id, tracker.applied_events())) == list(map(id, expected_events))
    for args in combinations:
        expected = rasas_states(domain, tracker, *args)
        got = tracker.past_states(domain, *args)
        assert got == expected
        assert _sharing(got) == _sharing(expected)
        _scribble(got)
        assert tracker.past_states(domain, *args) == expected  # the kept states are intact


def test_states_are_rasas_at_every_step_of_every_project_tracker(project):
    domain, trackers = project
    combinations = _combinations(domain)
    checked = 0
    for source in trackers:
        for events in _variants(list(source.events)):
            tracker = DialogueStateTracker(source.sender_id, domain.slots)
            for event in events:
                if isinstance(event, ActionExecuted):  # where the processor predicts
                    _assert_rasas_states(domain, tracker, combinations)
                    checked += 1
                tracker.update(event)  # appended to the same object, as within a turn
            _assert_rasas_states(domain, tracker, combinations)
    assert checked > 1000


def test_states_are_resumed_not_rebuilt(project, monkeypatch):
    domain, trackers = project
    source = max(trackers, key=lambda t: len(t.events))
    tracker = DialogueStateTracker(source.sender_id, domain.slots)
    for event in source.events:
        tracker.update(event)
        tracker.past_states(domain)
    replayed = []
    real_update = DialogueStateTracker.update
    monkeypatch.setattr(
        DialogueStateTracker,
        "update",
        lambda t, e, d=None: replayed.append(e) or real_update(t, e, d),
    )
    new = ActionExecuted("utter_greet")
    tracker.update(new)
    replayed.clear()
    states = tracker.past_states(domain)
    assert replayed == [new]  # only the new event was replayed, not the whole conversation
    monkeypatch.undo()
    assert states == rasas_states(domain, tracker)


def test_a_message_edited_after_states_were_kept_starts_over(project):
    """Events that edit the latest user message, after a state showing it was kept."""
    domain, _ = project
    combinations = _combinations(domain)
    greet = {"name": "greet", "confidence": 1.0}
    tracker = DialogueStateTracker("edited", domain.slots)
    for event in [ActionExecuted("action_listen"), UserUttered("hi", greet)]:
        tracker.update(event)
    tracker.update(ActionExecuted("action_listen"))  # a state with "hi" is kept from here
    _assert_rasas_states(domain, tracker, combinations)
    for edit in [
        DefinePrevUserUtteredFeaturization(True),  # "hi" is now featurized by its text
        EntitiesAdded([{"entity": "goal", "value": "sleep"}]),
        ActionExecuted("utter_greet"),
        DefinePrevUserUtteredFeaturization(False),  # no longer after a listen: no edit
    ]:
        tracker.update(edit)
        _assert_rasas_states(domain, tracker, combinations)


def test_other_rule_only_data_domain_or_copies_start_over(project):
    domain, trackers = project
    source = max(trackers, key=lambda t: len(t.events))
    tracker = DialogueStateTracker.from_events(source.sender_id, list(source.events), domain.slots)
    (_, _, rule_only), *_ = [c for c in _combinations(domain) if c[2]]
    for data in (rule_only, {"rule_only_slots": [], "rule_only_loops": []}, rule_only):
        assert tracker.past_states(domain, False, True, data) == rasas_states(
            domain, tracker, False, True, data
        )
    other_domain = Domain.from_dict({**domain.as_dict(), "forms": {}})
    assert tracker.past_states(other_domain) == rasas_states(other_domain, tracker)
    duplicate = copy.deepcopy(tracker)
    assert not duplicate.__dict__["_hts_states"]  # a copy does not carry the kept states
    duplicate.update(UserUttered("hi", {"name": "greet", "confidence": 1.0}))
    assert duplicate.past_states(domain) == rasas_states(domain, duplicate)
    assert tracker.past_states(domain) == rasas_states(domain, tracker)


# --- the policies' predictions, with the trained model ----------------------------------------


@pytest.fixture(scope="module")
def agent():
    import asyncio

    from rasa.core.agent import load_agent

    if not MODEL.exists():
        pytest.skip("models/current.tar.gz is missing: run `make train` (scripts/test.sh does)")
    return asyncio.run(load_agent(model_path=str(MODEL)))


def _predict(processor, tracker):
    target = processor.model_metadata.core_target
    return processor.graph_runner.run(inputs={"__tracker__": tracker}, targets=[target])[target]


def _as_compared(prediction) -> tuple:
    return (
        prediction.probabilities,
        prediction.policy_name,
        prediction.hide_rule_turn,
        prediction.is_end_to_end_prediction,
        prediction.is_no_user_prediction,
        [  # (events made for the prediction carry the time they were made)
            {k: v for k, v in e.as_dict().items() if k != "timestamp"}
            for e in prediction.events + prediction.optional_events
        ],
        prediction.action_metadata,
    )


@pytest.mark.rasa
def test_policy_predictions_are_rasas_through_every_project_conversation(
    agent, project, monkeypatch
):
    """Each test story, run as `rasa test core` runs it, with the predicted actions' flags."""
    _, trackers = project
    processor = agent.processor
    domain = processor.domain
    patched = Domain.states_for_tracker_history
    stories = [t for t in trackers if not t.is_rule_tracker]
    rule_policy = next(
        node._component
        for node in processor.graph_runner._instantiated_nodes.values()
        if type(node._component).__name__ == "RulePolicy"
    )
    combinations = [(False, False, None), (False, True, rule_policy._get_rule_only_data())]
    predictions = hidden = 0
    for source in stories:
        events = list(source.events)
        tracker = DialogueStateTracker.from_events(source.sender_id, events[:1], domain.slots)
        for event in events[1:]:
            if not isinstance(event, ActionExecuted):
                tracker.update(event)
                continue
            got = _predict(processor, tracker)
            monkeypatch.setattr(Domain, "states_for_tracker_history", patched.__wrapped__)
            expected = _predict(processor, tracker)
            monkeypatch.setattr(Domain, "states_for_tracker_history", patched)
            assert _as_compared(got) == _as_compared(expected)
            _assert_rasas_states(domain, tracker, combinations)
            predictions += 1
            predicted = domain.action_names_or_texts[got.max_confidence_index]
            hide = got.hide_rule_turn if predicted == event.action_name else False
            hidden += hide
            for made in got.events:  # as the processor does, before the action
                tracker.update(made)
            tracker.update(
                ActionExecuted(
                    event.action_name, got.policy_name, got.max_confidence, hide_rule_turn=hide
                )
            )
    assert predictions > 200 and hidden > 20  # rule-only turns hidden, as in `rasa run`
