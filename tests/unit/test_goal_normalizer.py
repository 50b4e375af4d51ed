"""Goal mentions become one of the four goals (synonym, spelling, meaning) or are left out."""

from __future__ import annotations

import pytest
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message

from backend.rasa_ext.goal_normalizer import GoalNormalizer, fuzzy_goal, scan_text

PHRASES = {
    "lose weight": "weight_loss",
    "weight loss": "weight_loss",
    "blood pressure": "blood_pressure",
    "blood pressure support": "blood_pressure",
    "hypertension": "blood_pressure",
    "blood sugar": "diabetes",
    "blood sugar support": "diabetes",
    "diabetes": "diabetes",
    "anti aging": "anti_aging",
    "wrinkles": "anti_aging",
}


@pytest.mark.parametrize(
    ("value", "goal"),
    [
        ("wieght loss", "weight_loss"),
        ("blod presure", "blood_pressure"),
        ("diabetis", "diabetes"),
        ("anti agin", "anti_aging"),
        ("Blood Sugar Support", "diabetes"),
        ("collagen powder", None),
    ],
)
def test_fuzzy_goal(value, goal):
    assert fuzzy_goal(value, PHRASES, 0.8) == goal


def test_scan_finds_a_misspelt_goal_in_a_short_message():
    assert scan_text("looking for help with blod presure", PHRASES, 0.8)[0] == "blood_pressure"
    assert scan_text("do you deliver on saturdays", PHRASES, 0.8) is None


@pytest.fixture
def normalizer(tmp_path):
    storage = LocalModelStorage(tmp_path)
    return GoalNormalizer({"use_encoder": False}, storage, Resource("goals"), PHRASES)


def _message(text: str, intent: str, entities: list[dict]) -> Message:
    message = Message(data={"text": text})
    message.set("intent", {"name": intent, "confidence": 0.9}, add_to_output=True)
    message.set("entities", entities, add_to_output=True)
    return message


def test_component_normalises_drops_and_scans(normalizer):
    raw, unsure, typo, product = normalizer.process(
        [
            _message("blood sugar support", "choose_goal", [_goal("blood sugar support")]),
            _message("something for my zest", "choose_goal", [_goal("zest")]),
            _message("wieght loss pls", "choose_goal", []),
            _message("I want collagen for my mum", "browse_products", []),
        ]
    )
    assert [e["value"] for e in raw.get("entities")] == ["diabetes"]
    assert unsure.get("entities") == []  # unsure: the bot asks with its goal buttons
    assert [e["value"] for e in typo.get("entities")] == ["weight_loss"]
    assert product.get("entities") == []


def _goal(value: str) -> dict:
    return {"entity": "goal", "value": value, "start": 0, "end": len(value)}


def test_similarity_fallback_with_the_sentence_encoder(tmp_path):
    from backend.rasa_ext import sentence_encoder

    if not sentence_encoder.default_dir().joinpath("model.safetensors").exists():
        pytest.skip("var/encoder is missing: run `make setup`")
    storage = LocalModelStorage(tmp_path)
    normalizer = GoalNormalizer({}, storage, Resource("goals"), PHRASES)
    assert normalizer.normalize("slimming down") == "weight_loss"
    assert normalizer.normalize("my hypertension readings") == "blood_pressure"
    assert normalizer.normalize("the weather tomorrow") is None
