"""Rasa NLU component: every `goal` entity becomes one of the four goals, or is left out.

Runs after EntitySynonymMapper. The synonyms of data/nlu.yml whose value is a goal are learnt at
training time; at run time a goal entity that is not yet one of GOALS is matched, in order:
1. exactly against those phrases (case-insensitive);
2. by spelling (difflib ratio >= `fuzzy_cutoff`: "wieght loss", "blod presure", "diabetis");
3. by meaning: the sentence encoder's cosine similarity to the phrases, when the best goal is
   at least `similarity` and `margin` ahead of the next goal ("healthy aging").
When none is sure the entity is removed, so the bot asks with its goal buttons. A short
choose_goal message with no goal entity at all is also scanned for a misspelt goal phrase
(word 1-3-grams, messages of at most `scan_chars` characters, so the cost stays bounded).
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from backend.goals import GOALS
from backend.rasa_ext import sentence_encoder

PHRASES_FILE = "goal_phrases.json"
_WORD = re.compile(r"[a-z][a-z'-]*")


def fuzzy_goal(value: str, phrases: dict[str, str], cutoff: float) -> str | None:
    """The goal whose phrase is spelt closest to `value` (ratio >= cutoff), else None."""
    value = value.lower().strip()
    if value in phrases:
        return phrases[value]
    close = difflib.get_close_matches(value, list(phrases), n=1, cutoff=cutoff)
    return phrases[close[0]] if close else None


def scan_text(text: str, phrases: dict[str, str], cutoff: float) -> tuple[str, int, int] | None:
    """A misspelt goal phrase in a short text: (goal, start, end) of the best 1-3-word span."""
    words = [(m.group(0), m.start(), m.end()) for m in _WORD.finditer(text.lower())]
    best: tuple[float, str, int, int] | None = None
    for size in (3, 2, 1):
        for i in range(len(words) - size + 1):
            span = " ".join(w for w, _, _ in words[i : i + size])
            if len(span) < 4:
                continue
            for phrase, goal in phrases.items():
                if abs(len(phrase) - len(span)) > 3 or len(phrase) < 5:
                    continue
                ratio = difflib.SequenceMatcher(None, span, phrase).ratio()
                if ratio >= cutoff and (best is None or ratio > best[0]):
                    best = (ratio, goal, words[i][1], words[i + size - 1][2])
    return best[1:] if best else None


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=True)
class GoalNormalizer(GraphComponent, EntityExtractorMixin):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "fuzzy_cutoff": 0.8,
            "similarity": 0.55,
            "margin": 0.05,
            "scan_chars": 200,
            "model_dir": None,
            "use_encoder": True,
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        phrases: dict[str, str] | None = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.phrases = dict(phrases or {})
        for goal in GOALS:
            self.phrases.setdefault(goal.replace("_", " "), goal)
        self._encoder = None
        self._vectors: np.ndarray | None = None

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GoalNormalizer:
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> GoalNormalizer:
        phrases: dict[str, str] = {}
        try:
            with model_storage.read_from(resource) as directory:
                phrases = json.loads((directory / PHRASES_FILE).read_text())
        except (ValueError, FileNotFoundError):
            pass  # no phrases stored: the goal names alone
        return cls(config, model_storage, resource, phrases)

    def train(self, training_data: TrainingData) -> Resource:
        self.phrases.update(
            {k.lower(): v for k, v in training_data.entity_synonyms.items() if v in GOALS}
        )
        with self._model_storage.write_to(self._resource) as directory:
            (directory / PHRASES_FILE).write_text(json.dumps(self.phrases, sort_keys=True))
        return self._resource

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if text.startswith("/"):
                continue  # button payloads carry a canonical goal already
            entities = message.get(ENTITIES) or []
            kept = []
            for entity in entities:
                if entity.get("entity") == "goal" and entity.get("value") not in GOALS:
                    goal = self.normalize(str(entity.get("value", "")))
                    if goal is None:
                        continue  # unsure: leave it out, the bot asks
                    entity = {**entity, "value": goal}
                    self.add_processor_name(entity)
                kept.append(entity)
            intent = (message.get(INTENT) or {}).get("name")
            if intent == "choose_goal" and not any(e.get("entity") == "goal" for e in kept):
                found = self._scan(text)
                if found:
                    kept.append(found)
            message.set(ENTITIES, kept, add_to_output=True)
        return messages

    def normalize(self, value: str) -> str | None:
        """One of GOALS for a goal mention, or None when unsure."""
        goal = fuzzy_goal(value, self.phrases, self._config["fuzzy_cutoff"])
        if goal or not self._config["use_encoder"]:
            return goal
        return self._by_meaning(value)

    def _by_meaning(self, value: str) -> str | None:
        if self._encoder is None:
            self._encoder = sentence_encoder.load(self._config["model_dir"])
            self._vectors = self._encoder.encode(list(self.phrases))
        vector = self._encoder.encode([value])[0]
        scores = self._vectors @ vector  # unit vectors: cosine similarity
        best: dict[str, float] = {}
        for phrase, score in zip(self.phrases, scores, strict=True):
            goal = self.phrases[phrase]
            best[goal] = max(best.get(goal, -1.0), float(score))
        ranked = sorted(best.items(), key=lambda kv: kv[1], reverse=True)
        top, second = ranked[0], ranked[1] if len(ranked) > 1 else (None, -1.0)
        if top[1] >= self._config["similarity"] and top[1] - second[1] >= self._config["margin"]:
            return top[0]
        return None

    def _scan(self, text: str) -> dict[str, Any] | None:
        if len(text) > self._config["scan_chars"]:
            return None
        found = scan_text(text, self.phrases, self._config["fuzzy_cutoff"])
        if not found:
            return None
        goal, start, end = found
        entity = {"entity": "goal", "start": start, "end": end, "value": goal}
        entity["extractor"] = self.__class__.__name__
        return entity
