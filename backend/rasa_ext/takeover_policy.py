"""Rasa policy: while a person from the team has the chat, the bot holds instead of answering.

On each user turn it asks the backend (`backend.sales.takeover.bot_may_answer`: the
`conversations.handed_off` flag, shared by every `rasa run` worker and kept across restarts)
whether the bot may answer. When it may not, it predicts `action_takeover_hold` (which says
"a person is on it" once, and still gives the safety answer if the keyword net flags the text),
then `action_listen`. Otherwise it abstains and the other policies decide as usual: safety
intents and the opt-out always reach their rules.

Its priority (7) is above the RulePolicy's (4), and its predictions are marked as not based on
the user's message, so they also win over an active form's next question. A database error
makes it abstain (and log): the bot then answers as it would without a takeover.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import (
    ACTION_LISTEN_NAME,
    USER_INTENT_BACK,
    USER_INTENT_RESTART,
    USER_INTENT_SESSION_START,
)
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

log = logging.getLogger(__name__)

HOLD_ACTION = "action_takeover_hold"
_failed: list[bool] = []  # a failed check was logged with its traceback
PRIORITY = 7  # RulePolicy 4, MemoizationPolicy 3
# Rasa's own commands keep working (nlu_fallback and out_of_scope are held: the hold action
# runs the safety net itself)
COMMANDS = frozenset({USER_INTENT_RESTART, USER_INTENT_SESSION_START, USER_INTENT_BACK})


def session_factory():
    """The backend's sessions (DATABASE_URL, as the tracker store); tests replace this."""
    from backend.db import get_session_factory

    return get_session_factory()


def bot_may_answer(sender_id: str, intent: str | None) -> bool:
    """The backend's answer, in its own short transaction; True when it cannot be asked."""
    from backend.db import session_scope
    from backend.sales import takeover

    try:
        with session_scope(session_factory()) as session:
            return takeover.bot_may_answer(session, sender_id=sender_id, intent=intent)
    except Exception:  # noqa: BLE001 - never stop the bot over this check
        # once per process with the traceback (e.g. `rasa test` without a migrated database)
        log.log(logging.DEBUG if _failed else logging.WARNING,
                "takeover check failed: the bot answers", exc_info=not _failed)  # fmt: skip
        _failed[:] = [True]
        return True


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True
)
class TakeoverPolicy(Policy):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"priority": PRIORITY}

    def train(self, training_trackers: list, domain: Domain, **kwargs: Any) -> Resource:
        return self._resource  # nothing to learn: the flag lives in the backend

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        probabilities = self._default_predictions(domain)
        action = self._next_action(tracker, domain)
        if action is None:
            return self._prediction(probabilities)
        probabilities[domain.index_for_action(action)] = 1.0
        return self._prediction(probabilities, is_no_user_prediction=True)

    def _next_action(self, tracker: DialogueStateTracker, domain: Domain) -> str | None:
        if HOLD_ACTION not in domain.action_names_or_texts:
            return None
        latest = tracker.latest_action_name
        if latest == HOLD_ACTION:
            return ACTION_LISTEN_NAME
        if latest != ACTION_LISTEN_NAME or tracker.latest_message is None:
            return None
        intent = (tracker.latest_message.intent or {}).get("name")
        if not intent or intent in COMMANDS:
            return None
        return None if bot_may_answer(tracker.sender_id, intent) else HOLD_ACTION
