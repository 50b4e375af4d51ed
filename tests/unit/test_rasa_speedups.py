"""backend.rasa_ext.speedups: Rasa behaves as before, only without the repeated work."""

from __future__ import annotations

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Event, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from backend.rasa_ext import speedups as rasa_speedups


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
    assert not hasattr(Domain.states_for_tracker_history.__wrapped__, "__wrapped__")
    assert not hasattr(DialogueStateTracker.applied_events.__wrapped__, "__wrapped__")


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


async def _echo_server():
    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        return web.json_response({"client_port": request.transport.get_extra_info("peername")[1]})

    app = web.Application()
    app.router.add_post("/webhook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001
    return runner, f"http://127.0.0.1:{port}/webhook"


async def test_action_calls_reuse_one_connection_and_drop_it_when_idle():
    import asyncio

    runner, url = await _echo_server()
    try:
        endpoint = EndpointConfig(url)
        first = await endpoint.request(json={"next_action": "action_x"})
        second = await endpoint.request(json={"next_action": "action_x"})
        assert first["client_port"] == second["client_port"]  # one TCP connection, kept
        await asyncio.sleep(rasa_speedups.CLIENT_KEEPALIVE_SECONDS + 0.5)
        third = await endpoint.request(json={"next_action": "action_x"})
        assert third["client_port"] != first["client_port"]  # closed by us while idle
    finally:
        await runner.cleanup()


# --- graph runs -------------------------------------------------------------------------------


class _Add:
    """A graph component: its config's `n` plus what its parents answered."""

    calls: list[str] = []

    def __init__(self, config):
        self.n = config["n"]

    @classmethod
    def create(cls, config, model_storage, resource, execution_context):
        return cls(config)

    def run(self, **parents):
        if self.n is None:
            raise RuntimeError("boom")
        _Add.calls.append(str(self.n))
        return self.n + sum(parents.values())


def _runner(tmp_path, nodes: dict):
    from rasa.engine.graph import ExecutionContext, GraphComponent, GraphSchema, SchemaNode
    from rasa.engine.runner.dask import DaskGraphRunner
    from rasa.engine.storage.local_model_storage import LocalModelStorage

    component = type("Add", (_Add, GraphComponent), {})
    schema = GraphSchema(
        {
            name: SchemaNode(
                needs=needs, uses=component, constructor_name="create", fn="run", config={"n": n}
            )
            for name, (n, needs) in nodes.items()
        }
    )
    return DaskGraphRunner(schema, LocalModelStorage(tmp_path), ExecutionContext(schema, "m"))


GRAPH = {
    "a": (1, {"x": "__input__"}),
    "b": (10, {"x": "a"}),
    "c": (100, {"x": "a", "y": "b"}),
    "d": (1000, {"x": "__input__"}),  # not needed for target "c"
}


@pytest.mark.parametrize("targets", [["c"], ["b"], ["c", "d"], None])
def test_graph_runs_give_dasks_results_without_dask(tmp_path, targets):
    from rasa.engine.runner.dask import DaskGraphRunner

    runner = _runner(tmp_path, GRAPH)
    expected = DaskGraphRunner.run.__wrapped__(runner, {"__input__": 5}, targets)
    _Add.calls.clear()
    for _ in range(2):  # the second run uses the remembered order
        assert runner.run({"__input__": 5}, targets) == expected
    if targets == ["c"]:
        assert expected == {"c": 100 + 6 + 16} and _Add.calls == ["1", "10", "100"] * 2


def test_graph_run_errors_are_rasas(tmp_path):
    from rasa.engine.exceptions import GraphComponentException, GraphRunError

    failing = _runner(tmp_path, {**GRAPH, "b": (None, {"x": "a"})})
    with pytest.raises(GraphComponentException, match="Error running graph component"):
        failing.run({"__input__": 5}, ["c"])
    with pytest.raises(GraphRunError, match="clashes with a node name"):
        _runner(tmp_path, GRAPH).run({"__input__": "a"}, ["c"])


# --- intent classification --------------------------------------------------------------------


def _message(text: str, sparse_columns: list[int], dense: list[float]):
    import numpy as np
    import scipy.sparse
    from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
    from rasa.shared.nlu.training_data.features import Features
    from rasa.shared.nlu.training_data.message import Message

    message = Message(data={TEXT: text})
    for origin, width, offset in (("words", 6, 0), ("chars", 4, 6)):
        row = np.zeros((1, width))
        for col in sparse_columns:
            if offset <= col < offset + width:
                row[0, col - offset] += 1.0
        message.add_features(
            Features(scipy.sparse.coo_matrix(row), FEATURE_TYPE_SENTENCE, TEXT, origin)
        )
    message.add_features(Features(np.array([dense]), FEATURE_TYPE_SENTENCE, TEXT, "encoder"))
    return message


def _trained_classifier(tmp_path, intents: list[str]):
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.nlu.classifiers.logistic_regression_classifier import (
        LogisticRegressionClassifier,
    )

    clf = LogisticRegressionClassifier.create(
        {},
        LocalModelStorage(tmp_path),
        Resource("lr"),
        ExecutionContext(GraphSchema({}), "m"),
    )
    clf.train(_training_data(intents))
    return clf


def _training_data(intents: list[str]):
    from rasa.shared.nlu.training_data.training_data import TrainingData

    examples = []
    for i, intent in enumerate(intents):
        for j in range(6):
            m = _message(f"{intent} {j}", [i, 6 + (i + j) % 4, (i * 3 + j) % 6], [i / 3, j / 5])
            m.set("intent", intent)
            examples.append(m)
    return TrainingData(examples)


@pytest.mark.parametrize("intents", [["greet", "goodbye", "buy", "ask"], ["yes", "no"]])
def test_intents_and_rankings_are_rasas(tmp_path, intents):
    import copy

    from rasa.nlu.classifiers.logistic_regression_classifier import (
        LogisticRegressionClassifier,
    )

    clf = _trained_classifier(tmp_path, intents)
    probes = [
        _message("p", cols, dense)
        for cols, dense in [([0, 7], [0.1, 0.2]), ([2, 9, 3], [0.9, 0.0]), ([], [0.0, 0.0])]
    ]
    ours = clf.process(copy.deepcopy(probes))
    rasas = LogisticRegressionClassifier.process.__wrapped__(clf, copy.deepcopy(probes))
    for mine, theirs in zip(ours, rasas):
        assert mine.get("intent")["name"] == theirs.get("intent")["name"]
        assert [r["name"] for r in mine.get("intent_ranking")] == [
            r["name"] for r in theirs.get("intent_ranking")
        ]
        assert [r["confidence"] for r in mine.get("intent_ranking")] == pytest.approx(
            [r["confidence"] for r in theirs.get("intent_ranking")], abs=1e-12
        )
    assert len({m.get("intent")["name"] for m in ours}) > 1  # the probes are told apart


# --- rule lookup ------------------------------------------------------------------------------


def _rule_policy(tmp_path):
    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource

    return RulePolicy.create(
        RulePolicy.get_default_config(),
        LocalModelStorage(tmp_path),
        Resource("rules"),
        ExecutionContext(GraphSchema({}), "m"),
    )


def _state(action=None, intent=None, text=None, **extra):
    state = {}
    if action or text:
        state["prev_action"] = {"action_text": text} if text else {"action_name": action}
    if intent:
        state["user"] = {"intent": intent}
    state.update(extra)
    return state


RULES = [
    [_state(), _state("action_listen", "greet")],  # conversation start
    [_state("action_listen", "greet")],
    [_state("action_listen", "bye")],
    [_state("utter_greet", "greet")],
    [_state("action_listen", "greet"), _state("utter_greet", "greet")],
    [_state(intent="greet")],  # any previous action
    [_state("should_not_be_set", "greet")],
    [_state("action_listen", "greet", active_loop={"name": "should_not_be_set"})],
    [_state("action_listen", "greet", active_loop={"name": "contact_form"})],
    [_state(text="hello there")],
]
CONVERSATIONS = [
    [_state(), _state("action_listen", "greet")],
    [_state("action_listen", "greet")],
    [_state("action_listen", "greet"), _state("utter_greet", "greet")],
    [_state("action_listen", "greet", active_loop={"name": "contact_form"})],
    [_state("utter_ask_name", "greet")],
    [_state("action_listen", "bye")],
    [_state(text="hello there")],
    [_state()],
    [],
]


@pytest.mark.parametrize("states", CONVERSATIONS)
def test_rule_lookup_finds_what_rasas_scan_finds(tmp_path, states):
    import json

    from rasa.core.policies.rule_policy import RulePolicy

    policy = _rule_policy(tmp_path)
    lookup = {json.dumps(rule): f"action_{i}" for i, rule in enumerate(RULES)}
    expected = RulePolicy._get_possible_keys.__wrapped__(policy, lookup, states)
    assert policy._get_possible_keys(lookup, states) == expected
    if states == CONVERSATIONS[1]:  # the index does not drop rules that match
        assert len(expected) >= 3
    lookup[json.dumps([_state("utter_ask_name", "greet")])] = "action_new"  # a changed table
    assert policy._get_possible_keys(lookup, states) == RulePolicy._get_possible_keys.__wrapped__(
        policy, lookup, states
    )


def test_an_untrained_or_retrained_classifier_gets_rasas_behaviour(tmp_path):
    import copy

    from rasa.nlu.classifiers.logistic_regression_classifier import (
        LogisticRegressionClassifier,
    )
    from sklearn.exceptions import NotFittedError

    probe = _message("p", [0, 7], [0.1, 0.2])
    clf = _trained_classifier(tmp_path, ["greet", "goodbye", "buy"])
    clf.process([copy.deepcopy(probe)])  # remembers this fit's weights
    clf.train(_training_data(["yes", "no", "maybe", "later"]))  # the same object, fit again
    (answer,) = clf.process([copy.deepcopy(probe)])
    assert {r["name"] for r in answer.get("intent_ranking")} == {"yes", "no", "maybe", "later"}
    untrained = LogisticRegressionClassifier({}, "lr", clf._model_storage, clf._resource)
    with pytest.raises(NotFittedError):
        untrained.process([copy.deepcopy(probe)])


# --- one setting to turn them off, a version check, an explicit install --------------------


@pytest.mark.parametrize(
    ("value", "on"), [("1", True), ("true", True), ("0", False), ("off", False), (None, True)]
)
def test_rasa_speedups_setting(value, on):
    environ = {} if value is None else {"RASA_SPEEDUPS": value}
    assert rasa_speedups.enabled(environ) is on


def test_a_bad_setting_is_refused():
    with pytest.raises(ValueError, match="RASA_SPEEDUPS must be 1 or 0"):
        rasa_speedups.enabled({"RASA_SPEEDUPS": "fast"})


def test_turned_off_nothing_is_checked_or_installed():
    assert rasa_speedups.install(environ={"RASA_SPEEDUPS": "0"}, version="9.9.9") is False


def test_an_untested_rasa_version_is_refused_with_a_clear_message():
    with pytest.raises(rasa_speedups.UnsupportedRasa, match="tested against Rasa 3.6.21"):
        rasa_speedups.check_version("3.6.22")
    rasa_speedups.check_version()  # the installed Rasa is the tested one


def test_the_tracker_store_does_not_install_them(tmp_path):
    """Constructing the tracker store patches nothing: the launcher installs them explicitly."""
    import subprocess
    import sys

    code = (
        "from backend.rasa_ext.tracker_store import BackendSQLTrackerStore\n"
        f"BackendSQLTrackerStore(dialect='sqlite', db={str(tmp_path / 'r.db')!r})\n"
        "from rasa.core.actions.action import RemoteAction\n"
        "print(hasattr(RemoteAction._validate_action_result, '__wrapped__'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "False"


# --- regex features ------------------------------------------------------------------------

REGEX_PROBES = [
    "my email is jane@example.org, call (415) 555-0166 or +44 7700 900123",
    "I want to lose weight and lower my blood pressure",
    "1 " * 300,
    "a@b.co a@b.co x@y.zz " * 20,
    "weight loss weight loss " * 50,
    "nothing matches here",
    "x",
]


def _regex_featurizer():
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.nlu.featurizers.sparse_featurizer.regex_featurizer import RegexFeaturizer

    patterns = [
        {"name": "email", "pattern": r"(?<![\w.%+-])[\w.%+-]{1,64}@[\w.-]{1,253}\.[A-Za-z]{2,63}"},
        {"name": "phone", "pattern": r"(?<![\d+])\+?\(?\d[\d ()-]{6,18}\d(?!\d)"},
        {"name": "goal", "pattern": r"(\bweight\ loss\b|\blose\ weight\b|\bblood\ pressure\b)"},
        {"name": "empty", "pattern": r"(?=o)"},  # zero-width matches
    ]
    config = {**RegexFeaturizer.get_default_config(), "case_sensitive": False}
    context = ExecutionContext(GraphSchema({}), node_name="regex_featurizer")
    return RegexFeaturizer(config, None, None, context, known_patterns=patterns)


@pytest.mark.parametrize("text", REGEX_PROBES)
def test_regex_features_and_token_flags_are_rasas(text):
    from rasa.nlu.featurizers.sparse_featurizer.regex_featurizer import RegexFeaturizer
    from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
    from rasa.shared.nlu.training_data.message import Message

    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    featurizer = _regex_featurizer()
    ours, theirs = Message(data={"text": text}), Message(data={"text": text})
    tokenizer.process([ours, theirs])
    seq, sent = featurizer._features_for_patterns(ours, "text")
    seq0, sent0 = RegexFeaturizer._features_for_patterns.__wrapped__(featurizer, theirs, "text")
    assert (seq.toarray() == seq0.toarray()).all() and (sent.toarray() == sent0.toarray()).all()
    assert [t.get("pattern") for t in ours.get("text_tokens")] == [
        t.get("pattern") for t in theirs.get("text_tokens")
    ]
