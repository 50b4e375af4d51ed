"""Per-turn costs of Rasa 3.6 removed without changing what Rasa does.

Found with py-spy on a loaded `rasa run` (docs/performance.md). All are installed by
`install()`, called explicitly by the launcher `python -m backend.rasa_ext.speedups <rasa args>`
(Rasa's own CLI with the patches in place: `make run`, the e2e tests and the benchmarks start
`rasa run` and `rasa test core` this way). `RASA_SPEEDUPS=0` turns them off; on a Rasa version
they were not tested against (TESTED_RASA) `install()` refuses with a clear message instead of
patching code it does not know:

* **Action-server answers.** `RemoteAction._validate_action_result` calls `jsonschema.validate`,
  which checks the (constant) response schema against the JSON-Schema meta-schema on every call
  before validating the answer: ~11 % of a worker's CPU. The replacement builds the validator for
  that schema once and validates each answer against the same schema; an invalid answer raises
  the same `ValidationError` (the best match, with Rasa's message appended) as before.
* **Event lookup by name.** `Event.resolve_by_type` walks every `Event` subclass for every event
  it deserialises (tracker loads, action answers): ~5 %. The replacement remembers the class found
  for each name; an unknown name falls through to Rasa's own lookup, so errors are unchanged.
* **Action-server connections.** `EndpointConfig.request` opens a new aiohttp session, and so a
  new TCP connection that the action server must accept, for every action call (2-4 a turn). The
  replacement keeps one session per endpoint and event loop; its connections are closed after
  2 s idle, before the action server's 5 s keep-alive ends, so a request never goes out on a
  connection the server is closing. Each request still has Rasa's timeout and headers.
* **Graph runs.** Every message runs the NLU graph once and the policy graph once per predicted
  action through `DaskGraphRunner`, which builds a dask graph, orders it and schedules it on each
  run: ~7 % of a worker for graphs of a dozen nodes that always run in the same order. The
  replacement works out each target list's order once and calls the same `GraphNode`s in it with
  the same inputs; a node's error propagates as before (`RuntimeError` -> `GraphRunError`).
* **Intent classification.** `LogisticRegressionClassifier.process` deep-copies and stacks the
  message's sparse features into one scipy matrix and goes through scikit-learn's input checks:
  ~11 % of a worker for 21 dot products. The replacement computes the same multinomial
  probabilities (softmax of the classifier's coefficients times the features, in Rasa's column
  order) straight from each featurizer's matrix and builds the same ranking.
* **Rule lookup.** `RulePolicy._get_possible_keys` tests every rule (211 here) against the
  latest conversation state on every prediction. A rule whose latest state requires another
  previous action can never match, so the replacement starts from the rules that require the
  conversation's previous action or none (an index built once per rule table) and then applies
  Rasa's own test, turn by turn, exactly as before.
* **Regex features on long messages.** `RegexFeaturizer._features_for_patterns` compares every
  token with every match of a pattern: quadratic on hostile input ("1 1 1 …" of 100k characters
  has 50k tokens and 5k phone matches: 47 s in one parse). Tokens and `re.finditer` matches both
  come in text order, so the replacement walks them together once and sets the same token
  `pattern` flags and the same sequence and sentence features.
* **Conversation states.** Every policy prediction (RulePolicy up to twice, MemoizationPolicy
  once; one prediction per action) asks `Domain.states_for_tracker_history` for the states of
  the whole conversation, which works out the events that count (`applied_events`: reverts,
  restarts, undone loop turns) and replays them on a fresh tracker: ~16 % of a worker, growing
  with the conversation. Within a turn the processor only appends events to the same tracker
  object between predictions, so the replacement keeps both loops on the tracker object and
  resumes them when its events start with the very event objects already folded: the applied
  events when no new loop name appears (Rasa judges a loop's actions by the names of every loop
  activated), the replay when the applied events start with those replayed. One replay serves
  the policies' two argument combinations (Rasa's loop body, rule-only turns included, runs on
  each step it recorded); anything else (a revert, a restart, another domain or rule-only data)
  starts over. Callers edit what they get (the featurizer deletes user text or intent), so each
  call returns new lists and new state and sub-state dicts, sharing between states what Rasa's
  own states share; a copied tracker starts without the kept loops. An event that edits the
  latest user message in place (`DefinePrevUserUtteredFeaturization`, `EntitiesAdded`) after a
  kept state shows that message makes the replay start over too.
"""

from __future__ import annotations

import itertools
import logging
import os
from typing import Any

log = logging.getLogger("backend.rasa_ext.speedups")
TESTED_RASA = "3.6.21"  # the patches replace functions of exactly this version
SETTING = "RASA_SPEEDUPS"
_ON, _OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_installed = False


class UnsupportedRasa(RuntimeError):
    """The speedups were asked for on a Rasa version they were not tested against."""


def enabled(environ: dict[str, str] | None = None) -> bool:
    """RASA_SPEEDUPS: on unless set to 0/false/no/off; any other value is refused."""
    value = (environ if environ is not None else os.environ).get(SETTING, "1").strip().lower()
    if value in _ON:
        return True
    if value in _OFF:
        return False
    raise ValueError(f"{SETTING} must be 1 or 0 (got {value!r})")


def check_version(version: str | None = None) -> None:
    """Raise UnsupportedRasa unless Rasa is the version the patches were written for."""
    if version is None:
        import rasa

        version = rasa.__version__
    if version != TESTED_RASA:
        raise UnsupportedRasa(
            f"backend.rasa_ext.speedups were tested against Rasa {TESTED_RASA}, this is Rasa "
            f"{version}: they patch Rasa's internals and are not installed. Set {SETTING}=0 "
            "to run without them, or re-check each patch against this version and update "
            "TESTED_RASA."
        )


def install(*, environ: dict[str, str] | None = None, version: str | None = None) -> bool:
    """Install every patch once; False when RASA_SPEEDUPS=0. Raises UnsupportedRasa."""
    global _installed
    if not enabled(environ):
        log.info("rasa speedups off (%s=0)", SETTING)
        return False
    if _installed:
        return True
    check_version(version)
    _install_action_result_validator()
    _install_event_type_cache()
    _install_kept_sessions()
    _install_sequential_graph_runner()
    _install_direct_intent_scores()
    _install_rule_index()
    _install_linear_regex_features()
    _install_resumed_states()
    _installed = True
    return True


def _install_action_result_validator() -> None:
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for
    from rasa.core.actions import action as rasa_action

    original = rasa_action.RemoteAction._validate_action_result
    spec = rasa_action.RemoteAction.action_response_format_spec()
    validator_class = validator_for(spec)
    validator_class.check_schema(spec)  # once, instead of once per answer
    validator = validator_class(spec)

    def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
        error = best_match(validator.iter_errors(result))  # what jsonschema.validate raises
        if error is not None:
            error.message += (
                f". Failed to validate Action server response from API, "
                f"make sure your response from the Action endpoint is valid. "
                f"For more information about the format visit "
                f"{rasa_action.DOCS_BASE_URL}/custom-actions"
            )
            raise error
        return True

    _validate_action_result.__wrapped__ = original  # type: ignore[attr-defined]
    rasa_action.RemoteAction._validate_action_result = _validate_action_result


def _install_event_type_cache() -> None:
    from rasa.shared.core.events import Event

    original = Event.resolve_by_type
    found: dict[str, type] = {}

    def resolve_by_type(type_name: str, default: type | None = None) -> type | None:
        cls = found.get(type_name)
        if cls is None:
            cls = original(type_name, default)
            if cls is not None and cls is not default:
                found[type_name] = cls
        return cls

    resolve_by_type.__wrapped__ = original  # type: ignore[attr-defined]
    Event.resolve_by_type = staticmethod(resolve_by_type)


CLIENT_KEEPALIVE_SECONDS = 2.0  # below Sanic's KEEP_ALIVE_TIMEOUT (5 s) on the action server


class _KeptSession:
    """`async with endpoint.session()` without closing the shared session at the end."""

    def __init__(self, session: Any) -> None:
        self.session = session

    async def __aenter__(self) -> Any:
        return self.session

    async def __aexit__(self, *exc: object) -> None:
        return None


def _install_kept_sessions() -> None:
    import asyncio
    import weakref

    import aiohttp
    from rasa.utils import endpoints

    original = endpoints.EndpointConfig.session

    def session(self: Any) -> _KeptSession:
        # The endpoint keeps one session per event loop (a session belongs to its loop).
        per_loop = self.__dict__.setdefault("_kept_sessions", weakref.WeakKeyDictionary())
        loop = asyncio.get_running_loop()
        shared = per_loop.get(loop)
        if shared is None or shared.closed:
            # As Rasa's own `EndpointConfig.session`, plus a connector that keeps connections.
            auth = (
                aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
                if self.basic_auth
                else None
            )
            shared = aiohttp.ClientSession(
                headers=self.headers,
                auth=auth,
                timeout=aiohttp.ClientTimeout(total=endpoints.DEFAULT_REQUEST_TIMEOUT),
                connector=aiohttp.TCPConnector(keepalive_timeout=CLIENT_KEEPALIVE_SECONDS),
            )
            per_loop[loop] = shared
        return _KeptSession(shared)

    session.__wrapped__ = original  # type: ignore[attr-defined]
    endpoints.EndpointConfig.session = session


def _install_sequential_graph_runner() -> None:
    from rasa.engine.exceptions import GraphRunError
    from rasa.engine.runner.dask import DaskGraphRunner

    original = DaskGraphRunner.run

    def run(
        self: Any, inputs: dict[str, Any] | None = None, targets: list[str] | None = None
    ) -> dict[str, Any]:
        run_targets = targets if targets else self._graph_schema.target_names
        plans = self.__dict__.setdefault("_hts_plans", {})
        plan = plans.get(tuple(run_targets))
        if plan is None:
            plan = _execution_plan(self._graph_schema.minimal_graph_schema(run_targets))
            plans[tuple(run_targets)] = plan
        # As in `DaskGraphRunner`: an input is the pair (name, value), and a string value that
        # names a node would be ambiguous.
        results: dict[str, Any] = {}
        for name, value in (inputs or {}).items():
            if isinstance(value, str) and value in self._graph_schema.nodes:
                raise GraphRunError(
                    f"Input value '{value}' clashes with a node name. Make sure "
                    f"that none of the input names passed to the `run` method are the "
                    f"same as node names in the graph schema."
                )
            results[name] = (name, value)
        try:
            for name, needs in plan:
                if name not in results:  # an input replaces a node of the same name
                    node = self._instantiated_nodes[name]
                    results[name] = node(*(results.get(need, need) for need in needs))
        except RuntimeError as e:
            raise GraphRunError("Error running runner.") from e
        return dict(results[target] for target in run_targets)

    run.__wrapped__ = original  # type: ignore[attr-defined]
    DaskGraphRunner.run = run


def _execution_plan(schema: Any) -> list[tuple[str, tuple[str, ...]]]:
    """The schema's nodes, each after the nodes it needs, with the names of what it needs."""
    plan: list[tuple[str, tuple[str, ...]]] = []
    placed: set[str] = set()

    def place(name: str) -> None:
        if name in placed or name not in schema.nodes:
            return
        placed.add(name)
        needs = tuple(schema.nodes[name].needs.values())
        for need in needs:
            place(need)
        plan.append((name, needs))

    for name in schema.nodes:
        place(name)
    return plan


def _install_direct_intent_scores() -> None:
    import numpy as np
    from rasa.nlu.classifiers.logistic_regression_classifier import (
        LogisticRegressionClassifier,
    )
    from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, INTENT, TEXT
    from rasa.utils.tensorflow.constants import RANKING_LENGTH

    original = LogisticRegressionClassifier.process

    def weights(self: Any) -> tuple[Any, Any] | None:
        """(coefficients by feature column, intercepts), or None when Rasa's path must run."""
        clf = self.clf
        coef = getattr(clf, "coef_", None)
        if coef is None:  # not trained: Rasa's own path (and its error)
            return None
        cached = self.__dict__.get("_hts_weights")
        if cached is not None and cached[0] is coef:  # a new fit makes a new coef_ array
            return cached[1]
        multinomial = clf.multi_class == "multinomial" or (
            clf.multi_class == "auto" and len(clf.classes_) > 2 and clf.solver != "liblinear"
        )
        found = (np.ascontiguousarray(clf.coef_.T), clf.intercept_) if multinomial else None
        self.__dict__["_hts_weights"] = (coef, found)
        return found

    def scores(message: Any, coef_t: Any, intercept: Any) -> Any:
        # `_create_X`'s columns: the sparse sentence features, then the dense ones, each in
        # the order the featurizers added them (Message._combine_features).
        z = intercept.copy()
        offset = 0
        sentence = [
            f for f in message.features if f.attribute == TEXT and f.type == FEATURE_TYPE_SENTENCE
        ]
        for sparse in (True, False):
            for feature in sentence:
                if feature.is_sparse() != sparse:
                    continue
                if sparse:
                    matrix = feature.features.tocoo()
                    z += matrix.data @ coef_t[offset + matrix.col]
                    offset += matrix.shape[1]
                else:
                    row = np.asarray(feature.features).reshape(-1)
                    z += row @ coef_t[offset : offset + row.shape[0]]
                    offset += row.shape[0]
        if offset != coef_t.shape[0]:
            return None
        z -= z.max()
        np.exp(z, out=z)
        return z / z.sum()

    def process(self: Any, messages: list[Any]) -> list[Any]:
        found = weights(self)
        if found is None:
            return original(self, messages)
        probabilities = [scores(message, *found) for message in messages]
        if any(p is None for p in probabilities):
            return original(self, messages)  # features that do not fit: Rasa's own errors
        intents = self.clf.classes_
        for message, probas in zip(messages, probabilities, strict=True):
            ranking = sorted(
                ({"name": k, "confidence": v} for k, v in zip(intents, probas, strict=True)),
                key=lambda e: -e["confidence"],
            )
            intent = ranking[0]
            if self.config[RANKING_LENGTH] > 0:
                ranking = ranking[: self.config[RANKING_LENGTH]]
            message.set(INTENT, intent, add_to_output=True)
            message.set("intent_ranking", ranking, add_to_output=True)
        return messages

    process.__wrapped__ = original  # type: ignore[attr-defined]
    LogisticRegressionClassifier.process = process


def _install_rule_index() -> None:
    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.shared.core.constants import PREVIOUS_ACTION, SHOULD_NOT_BE_SET
    from rasa.shared.nlu.constants import ACTION_NAME

    original = RulePolicy._get_possible_keys
    anything = object()  # the bucket of rules that do not require a previous action name

    def required_action(rule_key: str) -> Any:
        states = RulePolicy._rule_key_to_state(rule_key)
        if not states:
            return anything
        name = (states[-1].get(PREVIOUS_ACTION) or {}).get(ACTION_NAME)
        return name if name and name != SHOULD_NOT_BE_SET else anything

    def buckets(self: Any, lookup: dict[str, str]) -> dict[Any, list[str]]:
        indexes = self.__dict__.setdefault("_hts_rule_indexes", {})
        known = indexes.get(id(lookup))
        if known is None or known[0] is not lookup or known[1] != len(lookup):
            index: dict[Any, list[str]] = {anything: []}
            for key in lookup:
                index.setdefault(required_action(key), []).append(key)
            known = indexes[id(lookup)] = (lookup, len(lookup), index)
        return known[2]

    def _get_possible_keys(self: Any, lookup: dict[str, str], states: list[Any]) -> set[str]:
        latest = (states[-1].get(PREVIOUS_ACTION) or {}).get(ACTION_NAME) if states else None
        if not latest:  # a conversation start or an end-to-end action text: Rasa's own scan
            return original(self, lookup, states)
        index = buckets(self, lookup)
        possible_keys = {*index.get(latest, ()), *index[anything]}
        for i, state in enumerate(reversed(states)):  # Rasa's loop, on fewer keys
            possible_keys = {
                key for key in possible_keys if self._is_rule_applicable(key, i, state)
            }
        return possible_keys

    _get_possible_keys.__wrapped__ = original  # type: ignore[attr-defined]
    RulePolicy._get_possible_keys = _get_possible_keys


def _install_linear_regex_features() -> None:
    import re

    import numpy as np
    import scipy.sparse
    from rasa.nlu.constants import TOKENS_NAMES
    from rasa.nlu.featurizers.sparse_featurizer.regex_featurizer import RegexFeaturizer
    from rasa.shared.nlu.constants import ACTION_TEXT, RESPONSE, TEXT

    original = RegexFeaturizer._features_for_patterns

    def _features_for_patterns(self: Any, message: Any, attribute: str) -> tuple[Any, Any]:
        text = message.get(attribute)
        tokens = message.get(TOKENS_NAMES[attribute], []) if text else []
        if not tokens:
            return None, None
        flags = 0 if self.case_sensitive else re.IGNORECASE
        sequence = np.zeros([len(tokens), len(self.known_patterns)])
        sentence = np.zeros([1, len(self.known_patterns)])
        for index, pattern in enumerate(self.known_patterns):
            spans = [m.span() for m in re.finditer(pattern["pattern"], text, flags=flags)]
            first = 0  # the first match that does not end before the current token
            for token_index, token in enumerate(tokens):
                while first < len(spans) and spans[first][1] <= token.start:
                    first += 1
                # Rasa's test (token.start < end and token.end > start) on the one match
                # that can overlap: later matches start later still
                hit = first < len(spans) and spans[first][0] < token.end
                patterns = token.get("pattern", default={})
                patterns[pattern["name"]] = hit
                token.set("pattern", patterns)
                if hit:
                    sequence[token_index][index] = 1.0
                    if attribute in (RESPONSE, TEXT, ACTION_TEXT):
                        sentence[0][index] = 1.0
        return scipy.sparse.coo_matrix(sequence), scipy.sparse.coo_matrix(sentence)

    _features_for_patterns.__wrapped__ = original  # type: ignore[attr-defined]
    RegexFeaturizer._features_for_patterns = _features_for_patterns


class _Folds(dict):
    """A tracker's resumable states, by arguments; a copy of the tracker starts without them."""

    def __copy__(self) -> _Folds:
        return _Folds()

    def __deepcopy__(self, memo: dict[int, Any]) -> _Folds:
        return _Folds()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Folds, ())


class _AppliedFold:
    """Rasa's `DialogueStateTracker.applied_events` loop, kept between calls to resume it."""

    def __init__(self) -> None:
        self.seen: list[Any] = []  # the tracker's events folded so far
        self.loop_names: set[str] = set()
        self.applied: list[Any] = []

    def applied_for(self, tracker: Any) -> list[Any]:
        """The applied events of `tracker` (not to be edited: callers get a copy)."""
        import operator

        from rasa.shared.core.events import ActiveLoop

        events = tracker.events
        new = list(itertools.islice(events, len(self.seen), None))
        resumes = (
            len(events) >= len(self.seen)
            and all(map(operator.is_, self.seen, events))
            # Rasa treats a loop's actions by the names of every loop the events activate: a
            # new name changes how earlier events count
            and all(e.name in self.loop_names for e in new if isinstance(e, ActiveLoop) and e.name)
        )
        if not resumes:  # start over
            new, self.seen, self.applied = list(events), [], []
            self.loop_names = {e.name for e in new if isinstance(e, ActiveLoop) and e.name}
        for event in new:
            self._fold(tracker, event)
            self.seen.append(event)
        return self.applied

    def _fold(self, tracker: Any, event: Any) -> None:
        """One pass of Rasa's loop body."""
        from rasa.shared.core import events as ev

        applied = self.applied
        if isinstance(event, (ev.Restarted, ev.SessionStarted)):
            applied.clear()
        elif isinstance(event, ev.ActionReverted):
            tracker._undo_till_previous(ev.ActionExecuted, applied)
        elif isinstance(event, ev.UserUtteranceReverted):
            tracker._undo_till_previous(ev.UserUttered, applied)
            tracker._undo_till_previous(ev.ActionExecuted, applied)
        elif (
            isinstance(event, ev.ActionExecuted)
            and event.action_name in self.loop_names
            and not tracker._first_loop_execution_or_unhappy_path(event.action_name, applied)
        ):
            tracker._undo_till_previous_loop_execution(event.action_name, applied)
        else:
            applied.append(event)


class _Replay:
    """Rasa's replay of the applied events, kept: one step per ActionExecuted (and the end)."""

    def __init__(self, domain: Any, tracker: Any, omit_unset_slots: bool) -> None:
        self.domain = domain
        self.omit_unset_slots = omit_unset_slots
        self.replayed = tracker.init_copy()  # as `generate_all_prior_trackers`
        self.applied: list[Any] = []  # the events replayed so far
        self.steps: list[tuple[Any, ...]] = []
        self.end: tuple[int, tuple[Any, ...]] | None = None  # (len(applied), last step)
        self.steps_at_user = 0  # how many steps there were when the latest message came

    def resumes(self, domain: Any, applied: list[Any]) -> bool:
        """True when `applied` is what was replayed plus events appended since, and none of
        those edits a user message that a kept step shows."""
        import operator

        from rasa.shared.core import events as ev

        if not (
            domain is self.domain
            and len(applied) >= len(self.applied)
            and all(map(operator.is_, self.applied, applied))
        ):
            return False
        # These edit the latest message object itself (right after a listen): Rasa's replay
        # would show the edited message in every state since that message came.
        shown = self.steps_at_user < len(self.steps)
        for event in applied[len(self.applied) :]:
            if isinstance(event, ev.UserUttered):
                shown = False
            elif shown and isinstance(
                event, (ev.DefinePrevUserUtteredFeaturization, ev.EntitiesAdded)
            ):
                return False
        return True

    def advance(self, applied: list[Any]) -> tuple[Any, ...]:
        """Replays the events not replayed yet; returns the step after the last one."""
        from rasa.shared.core.events import ActionExecuted, UserUttered

        for event in applied[len(self.applied) :]:
            if isinstance(event, ActionExecuted):
                self.steps.append(self._step(event.hide_rule_turn))
            elif isinstance(event, UserUttered):
                self.steps_at_user = len(self.steps)
            self.replayed.update(event)
            self.applied.append(event)
        if self.end is None or self.end[0] != len(self.applied):
            self.end = (len(self.applied), self._step(False))
        return self.end[1]

    def _step(self, hide_rule_turn: bool) -> tuple[Any, ...]:
        """What Rasa's loop body reads from the replayed tracker as it is now."""
        tr = self.replayed
        return (
            hide_rule_turn,
            not tr.followup_action and tr.latest_action_name != tr.active_loop_name,
            self.domain._get_prev_action_sub_state(tr),
            self.domain.get_active_state(tr, omit_unset_slots=self.omit_unset_slots),
        )


class _States:
    """Rasa's states for one argument combination, built from a `_Replay`'s steps."""

    def __init__(self, replay: _Replay, ignore_rule_only_turns: bool, rule_only_data: Any) -> None:
        import copy

        self.replay = replay
        self.ignore_rule_only_turns = ignore_rule_only_turns
        self.rule_only_data = copy.deepcopy(rule_only_data)  # compared on each call
        self.states: list[dict[str, Any]] = []  # for the replay's steps so far
        self.done = 0
        self.last_ml_action_sub_state: Any = None
        self.turn_was_hidden = False

    def states_for(self, end: tuple[Any, ...]) -> list[dict[str, Any]]:
        for step in self.replay.steps[self.done :]:
            self._add(step, self.states)
        self.done = len(self.replay.steps)
        # The step after the last event is for this call only: the next event changes it.
        states = list(self.states)
        kept = (self.last_ml_action_sub_state, self.turn_was_hidden)
        self._add(end, states)
        self.last_ml_action_sub_state, self.turn_was_hidden = kept
        return states

    def _add(self, step: tuple[Any, ...], states: list[dict[str, Any]]) -> None:
        """Rasa's loop body (`Domain.states_for_tracker_history`) on one step."""
        from rasa.shared.core.constants import PREVIOUS_ACTION, SLOTS

        hide_rule_turn, may_hide, prev_action_sub_state, active_state = step
        if not self.ignore_rule_only_turns:
            states.append(active_state)
            return
        domain = self.replay.domain
        if not self.turn_was_hidden:
            self.last_ml_action_sub_state = prev_action_sub_state
        if may_hide:  # not a follow-up action nor a loop's own turn
            self.turn_was_hidden = hide_rule_turn
        if self.turn_was_hidden:
            return
        state = dict(active_state)  # edited below: the step is shared
        if SLOTS in state:
            state[SLOTS] = dict(state[SLOTS])
        domain._remove_rule_only_features(state, self.rule_only_data)
        if states:
            domain._substitute_rule_only_user_input(state, states[-1])
        if self.last_ml_action_sub_state:
            state[PREVIOUS_ACTION] = self.last_ml_action_sub_state
        states.append(domain._clean_state(state))


def _copied_states(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """New state and sub-state dicts; a sub-state shared by two states stays shared."""
    import copy

    copies: dict[int, Any] = {}
    result = []
    for state in states:
        new = {}
        for name, sub_state in state.items():
            copied = copies.get(id(sub_state))
            if copied is None:
                # sub-states are dicts of strings and tuples; anything else is copied whole
                copied = dict(sub_state) if type(sub_state) is dict else copy.deepcopy(sub_state)
                copies[id(sub_state)] = copied
            new[name] = copied
        result.append(new)
    return result


def _install_resumed_states() -> None:
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    original = Domain.states_for_tracker_history
    original_applied = DialogueStateTracker.applied_events

    def states_for_tracker_history(
        self: Any,
        tracker: Any,
        omit_unset_slots: bool = False,
        ignore_rule_only_turns: bool = False,
        rule_only_data: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        # Only Rasa's own tracker class: a subclass may replay differently (the training
        # trackers keep their own cache).
        if type(tracker) is not DialogueStateTracker:
            return original(self, tracker, omit_unset_slots, ignore_rule_only_turns, rule_only_data)
        rule_only_data = rule_only_data if ignore_rule_only_turns else None  # unused otherwise
        folds = tracker.__dict__.setdefault("_hts_states", _Folds())
        applied = _applied(folds, tracker)
        replay = folds.get(("replay", omit_unset_slots))
        if replay is None or not replay.resumes(self, applied):
            replay = folds[("replay", omit_unset_slots)] = _Replay(self, tracker, omit_unset_slots)
        key = ("states", omit_unset_slots, ignore_rule_only_turns)
        built = folds.get(key)
        if built is None or built.replay is not replay or built.rule_only_data != rule_only_data:
            built = folds[key] = _States(replay, ignore_rule_only_turns, rule_only_data)
        try:
            states = built.states_for(replay.advance(applied))
        except BaseException:  # half replayed: the next call starts over
            folds.pop(("replay", omit_unset_slots), None)
            folds.pop(key, None)
            raise
        return _copied_states(states)

    def applied_events(self: Any) -> list[Any]:
        if type(self) is not DialogueStateTracker:
            return original_applied(self)
        return list(_applied(self.__dict__.setdefault("_hts_states", _Folds()), self))

    states_for_tracker_history.__wrapped__ = original  # type: ignore[attr-defined]
    Domain.states_for_tracker_history = states_for_tracker_history
    applied_events.__wrapped__ = original_applied  # type: ignore[attr-defined]
    DialogueStateTracker.applied_events = applied_events


def _applied(folds: _Folds, tracker: Any) -> list[Any]:
    """The tracker's applied events, resumed from the last call (not to be edited)."""
    fold = folds.get("applied")
    if fold is None:
        fold = folds["applied"] = _AppliedFold()
    try:
        return fold.applied_for(tracker)
    except BaseException:
        del folds["applied"]  # half folded: the next call starts over
        raise


def main(argv: list[str]) -> None:
    """`python -m backend.rasa_ext.speedups run …` / `test core …`: Rasa's CLI, patches first."""
    import sys

    from rasa.__main__ import main as rasa_main

    try:
        install()
    except (UnsupportedRasa, ValueError) as exc:
        sys.exit(f"error: {exc}")
    sys.argv = ["rasa", *argv]
    rasa_main()


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
