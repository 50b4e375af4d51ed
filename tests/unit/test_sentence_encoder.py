"""rasa_ext.sentence_encoder: BERT's tokenizer rules and the encoder's vectors (var/encoder)."""

from __future__ import annotations

import numpy as np
import pytest
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from backend.rasa_ext import sentence_encoder
from backend.rasa_ext.sentence_features import SentenceEmbeddingFeaturizer

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "hello", ",", "!", "cafe"]


@pytest.fixture(scope="module")
def toy() -> sentence_encoder.WordPiece:
    return sentence_encoder.WordPiece({token: i for i, token in enumerate(VOCAB)})


@pytest.fixture(scope="module")
def encoder() -> sentence_encoder.SentenceEncoder:
    # `make setup` fetches the model; a missing model is a setup error, not a skipped test.
    return sentence_encoder.load()


def test_basic_tokens_lower_case_strip_accents_and_split_punctuation(toy):
    assert toy.basic_tokens("Héllo,  CAFÉ!\tok") == ["hello", ",", "cafe", "!", "ok"]
    assert toy.basic_tokens("don't e-mail") == ["don", "'", "t", "e", "-", "mail"]
    assert toy.basic_tokens("\x00\ufffd") == []


def test_word_pieces_take_the_longest_match_and_unknown_words_become_unk(toy):
    assert toy.word_pieces("unaffable") == [4, 5, 6]
    assert toy.word_pieces("unxyz") == [1]  # one unknown piece makes the whole word [UNK]
    assert toy.word_pieces("a" * 101) == [1]
    assert toy.encode("Hello, unaffable!") == [2, 7, 8, 4, 5, 6, 9, 3]
    assert len(toy.encode("hello " * 400, max_length=16)) == 16


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
