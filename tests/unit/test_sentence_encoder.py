"""rasa_ext.sentence_encoder: the model's own tokenizer, and vectors equal to golden ones."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from backend.rasa_ext import sentence_encoder
from backend.rasa_ext.sentence_features import SentenceEmbeddingFeaturizer
from tests.unit import encoder_reference

GOLDEN = json.loads(encoder_reference.GOLDEN.read_text(encoding="utf-8"))["sentences"]


@pytest.fixture(scope="module")
def encoder() -> sentence_encoder.SentenceEncoder:
    # `make setup` fetches the model; a missing model is a setup error, not a skipped test.
    return sentence_encoder.load()


def test_the_tokenizer_is_the_models_own_with_sentence_transformers_length(encoder):
    tokens = encoder.tokenizer.tokens
    assert tokens("Héllo,  CAFÉ!\tok") == ["[CLS]", "hello", ",", "cafe", "!", "ok", "[SEP]"]
    # The two places the hand-written WordPiece differed: Python lower-cases a final capital
    # sigma to ς and dropped emoji newer than its Unicode tables.
    assert tokens("ΒΑΡΟΣ")[1:-1] == ["β", "##α", "##ρ", "##ο", "##σ"]
    assert tokens("I feel 🫠") == ["[CLS]", "i", "feel", "[UNK]", "[SEP]"]
    assert len(encoder.tokenizer.encode("hello " * 400)) == 256  # not the file's own 128
    assert encoder.tokenizer.encode("") == [101, 102]


@pytest.mark.parametrize("row", GOLDEN, ids=[row["text"][:24] for row in GOLDEN])
def test_vectors_match_the_reference_to_1e_5(encoder, row):
    """Golden vectors: tests/unit/encoder_reference.py, an independent NumPy float64 BERT."""
    assert encoder.tokenizer.encode(row["text"]) == row["ids"]
    want = np.array(row["vector"])
    one = encoder.encode([row["text"]])[0]  # the XLA one-message path, padded to a bucket
    assert np.abs(one - want).max() < 1e-5
    batch = encoder.encode([row["text"], "a shorter neighbour"])[0]  # the batch graph, masked
    assert np.abs(batch - want).max() < 1e-5


def test_the_golden_file_is_what_the_reference_computes():
    # The stored vectors come from the reference as it stands (not edited by hand).
    made = encoder_reference.golden(encoder_reference.model_dir())["sentences"]
    assert [row["ids"] for row in made] == [row["ids"] for row in GOLDEN]
    assert (
        np.abs(
            np.array([row["vector"] for row in made]) - np.array([row["vector"] for row in GOLDEN])
        ).max()
        < 1e-7
    )


def test_a_missing_model_says_how_to_get_it(tmp_path):
    with pytest.raises(sentence_encoder.EncoderMissing, match="make setup"):
        sentence_encoder.SentenceEncoder(tmp_path)


def test_vectors_have_length_one_and_do_not_depend_on_the_batch(encoder):
    texts = ["yes", "how much is the weight loss bundle", "I want to talk to a real person"]
    batch = encoder.encode(texts)
    assert batch.shape == (3, 384)
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    for text, row in zip(texts, batch, strict=True):
        assert np.allclose(encoder.encode([text])[0], row, atol=1e-4)  # XLA one-message path


def test_recent_texts_give_the_same_vector_without_running_the_model(monkeypatch):
    monkeypatch.setenv("ENCODER_CACHE_SIZE", "2")
    encoder = sentence_encoder.SentenceEncoder(sentence_encoder.default_dir())
    runs = []
    run_one = encoder._run_one
    monkeypatch.setattr(encoder, "_run_one", lambda text: runs.append(text) or run_one(text))
    first = encoder.encode(["yes"])[0].copy()
    again = encoder.encode(["yes"])[0]
    assert runs == ["yes"]
    assert np.array_equal(first, again)
    assert np.array_equal(again, run_one("yes"))
    with pytest.raises(ValueError):
        again[0] = 1.0  # a kept vector is shared: read-only
    encoder.encode(["no"])
    encoder.encode(["hi"])  # two kept at most: "yes" (the least recent) goes
    encoder.encode(["yes"])
    assert runs == ["yes", "no", "hi", "yes"]


def test_the_cache_size_setting_is_parsed_strictly():
    assert sentence_encoder.cache_size({}) == sentence_encoder.DEFAULT_CACHE_SIZE
    assert sentence_encoder.cache_size({"ENCODER_CACHE_SIZE": "0"}) == 0
    with pytest.raises(ValueError, match="ENCODER_CACHE_SIZE must be a whole number"):
        sentence_encoder.cache_size({"ENCODER_CACHE_SIZE": "-1"})


def test_paraphrases_are_closer_than_unrelated_messages(encoder):
    price, cost, human, weather = encoder.encode(
        [
            "what's the price of this",
            "how much does it cost",
            "can I speak to a real person",
            "is it going to rain tomorrow",
        ]
    )
    assert price @ cost > 0.5
    assert price @ cost > max(price @ human, price @ weather) + 0.3


def test_the_featurizer_adds_one_weighted_sentence_vector_per_text(encoder):
    featurizer = SentenceEmbeddingFeaturizer(
        {**SentenceEmbeddingFeaturizer.get_default_config(), "weight": 10.0}, "encoder"
    )
    with_text, without_text = Message(data={TEXT: "hi there"}), Message(data={"intent": "greet"})
    featurizer.process_training_data(TrainingData([with_text, without_text]))
    sequence, sentence = with_text.get_dense_features(TEXT)
    assert sequence is None
    assert sentence.features.shape == (1, 384)
    assert np.linalg.norm(sentence.features) == pytest.approx(10.0, rel=1e-4)
    assert without_text.features == []


def test_a_non_positive_weight_is_refused():
    with pytest.raises(ValueError, match="weight must be positive"):
        SentenceEmbeddingFeaturizer.validate_config({"weight": 0})


def test_the_encoder_lives_in_the_project_var_directory(monkeypatch):
    from backend.config import ROOT

    monkeypatch.delenv("ENCODER_DIR", raising=False)
    assert sentence_encoder.default_dir() == ROOT / "var" / "encoder"
