"""Rasa NLU component: the keyword safety net decides the intent before anything else can.

It runs after the intent classifier and before the FallbackClassifier, on every message. When
`backend.safety.classify` finds emergency or medical-advice wording, the intent becomes
`report_emergency` / `ask_medical_advice` with confidence 1.0, whatever the classifier said, so
a misread "my chest hurts" or "can I take this with warfarin" can never get a sales answer or a
re-phrase request. The classifier's own guess stays in the ranking for the record.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from backend import safety

INTENT_FOR = {safety.EMERGENCY: "report_emergency", safety.MEDICAL: "ask_medical_advice"}


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class SafetyNetClassifier(GraphComponent):
    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SafetyNetClassifier:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if text.startswith("/"):
                continue  # a button payload names its intent itself
            verdict = safety.classify(text)
            if not verdict.flagged:
                continue
            intent = {"name": INTENT_FOR[verdict.kind], "confidence": 1.0}
            ranking = [intent] + [
                r
                for r in (message.get(INTENT_RANKING_KEY) or [])
                if r.get("name") != intent["name"]
            ]
            message.set(INTENT, intent, add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages
