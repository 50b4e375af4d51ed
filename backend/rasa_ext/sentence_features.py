"""Rasa NLU component: each message's meaning vector (all-MiniLM-L6-v2) as a dense feature.

Runs `rasa_ext.sentence_encoder` on the text and adds the 384 numbers as a sentence-level dense
feature, which the LogisticRegressionClassifier uses next to the word and character counts.
`weight` scales the vector (it has length 1, while a message has dozens of counts): 10 was best
in 5-fold cross-validation on data/ (see README, "NLU quality"). Nothing is trained here; the
encoder is read from `model_dir` (default ENCODER_DIR, else var/encoder/, filled by `make setup`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from backend.rasa_ext import sentence_encoder


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**DenseFeaturizer.get_default_config(), "model_dir": None, "weight": 10.0}

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)
        self.encoder = sentence_encoder.load(self._config["model_dir"])
        self.encoder.warm_up()
        self.weight = float(self._config["weight"])

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SentenceEmbeddingFeaturizer:
        return cls(config, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if float(config.get("weight", 10.0)) <= 0:
            raise ValueError("SentenceEmbeddingFeaturizer: weight must be positive")

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._featurize([m for m in training_data.training_examples if m.get(TEXT)])
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        self._featurize([m for m in messages if m.get(TEXT)])
        return messages

    def _featurize(self, messages: list[Message]) -> None:
        if not messages:
            return
        vectors = self.encoder.encode([m.get(TEXT) for m in messages]) * self.weight
        for message, vector in zip(messages, vectors, strict=True):
            self.add_features_to_message(
                sequence=None, sentence=vector[np.newaxis, :], attribute=TEXT, message=message
            )
