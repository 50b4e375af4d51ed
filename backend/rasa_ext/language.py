"""Rasa NLU component: messages in a language the assistant does not speak, and emoji-only ones.

Runs after SafetyNetClassifier and before the FallbackClassifier. `backend.language.detect`
labels each message `en`, `other` or `emoji` (added to the parse data as `language`). For
`other` and `emoji` the intent becomes `out_of_language` (the bot says which language it speaks
and offers a person), except an emoji that says something itself (👍 affirm, 👎 deny, 👋 greet).
A safety decision of the keyword net (confidence 1.0) is never overridden.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from backend import language, safety

OUT_OF_LANGUAGE = "out_of_language"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class LanguageClassifier(GraphComponent):
    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageClassifier:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            detected = language.detect(text)
            message.set("language", detected, add_to_output=True)
            current = message.get(INTENT) or {}
            if detected == language.ENGLISH or (
                current.get("name") in safety.SAFETY_INTENTS and current.get("confidence") == 1.0
            ):
                continue
            name = language.emoji_intent(text) or OUT_OF_LANGUAGE
            intent = {"name": name, "confidence": 1.0}
            ranking = [intent] + [
                {**r, "confidence": r.get("confidence", 0.0) / 2}
                for r in message.get(INTENT_RANKING_KEY) or []
                if r.get("name") != name
            ]
            message.set(INTENT, intent, add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages
