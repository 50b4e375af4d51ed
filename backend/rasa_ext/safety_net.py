"""Rasa NLU component: the safety gate decides the safety intents after the classifier.

It runs after the intent classifier and before the FallbackClassifier, on every message, and
applies `backend.safety.gate`:

- emergency or medical-advice wording found by the keyword net (`backend.safety.classify`)
  sets `report_emergency` / `ask_medical_advice` with confidence 1.0, whatever the classifier
  said, so a misread "my chest hurts" or "can I take this with warfarin" never gets a sales
  answer;
- `report_emergency` from the classifier *without* the net's evidence is dropped (the rules send
  that intent straight to the emergency script and an urgent lead), and so is a less than sure
  `ask_medical_advice`: the next intent of the ranking wins. The logistic regression says
  `report_emergency` at 0.8-0.99 for ordinary long shopping messages; it is never the only
  evidence for an emergency.

The classifier's own guesses stay in the ranking for the record, and an override is noted in
the parse output (`safety_net: {"from": classifier's intent, "to": the gate's}`) so the review
queue (backend/training/) can show it.
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

INTENT_FOR = safety.INTENT_FOR
OVERRIDE_KEY = "safety_net"  # parse output: {"from": classifier intent, "to": gate intent}


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class SafetyNetClassifier(GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"medical_threshold": safety.MEDICAL_THRESHOLD}

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        config = {**self.get_default_config(), **(config or {})}
        self.medical_threshold = float(config["medical_threshold"])

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SafetyNetClassifier:
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if text.startswith("/"):
                continue  # a button payload names its intent itself
            ranking = message.get(INTENT_RANKING_KEY) or []
            if not ranking and message.get(INTENT):
                ranking = [message.get(INTENT)]
            intent = safety.gate(
                text=text, ranking=ranking, medical_threshold=self.medical_threshold
            )
            if intent is None:
                continue
            if ranking and ranking[0].get("name") != intent["name"]:
                override = {"from": ranking[0].get("name"), "to": intent["name"]}
                message.set(OVERRIDE_KEY, override, add_to_output=True)
            # The others are halved: on long text the classifier says 1.0 for several intents,
            # and the FallbackClassifier's ambiguity check must not undo the gate's decision.
            ranking = [intent] + [
                {**r, "confidence": min(r.get("confidence", 0.0), intent["confidence"]) / 2}
                for r in ranking
                if r.get("name") != intent["name"]
            ]
            message.set(INTENT, intent, add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages
