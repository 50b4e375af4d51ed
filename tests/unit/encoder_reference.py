"""An independent reference for all-MiniLM-L6-v2: BERT's forward pass in plain NumPy (float64).

Written from the model's published architecture (Hugging Face `BertModel` + sentence-transformers'
mean pooling and L2 normalisation), sharing no code with backend/rasa_ext/sentence_encoder.py,
so the golden vectors it made (encoder_golden.json) test the product encoder's TensorFlow graph,
its padding and its tokenizer settings. PyTorch and sentence-transformers cannot be installed next
to Rasa 3.6's pins, hence NumPy. Tokens come from the model's own tokenizer.json through
Hugging Face's `tokenizers`, set as sentence-transformers sets it (no padding, 256 tokens).

`python -m tests.unit.encoder_reference` rewrites encoder_golden.json from var/encoder/.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from scipy.special import erf
from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("encoder_golden.json")
MAX_TOKENS = 256  # sentence_bert_config.json: max_seq_length

LONG = " ".join(
    f"Order {i}: the collagen powder, vitamin D drops and magnesium tablets arrived late again."
    for i in range(25)
)  # ~450 tokens: cut to 256 as sentence-transformers does
SENTENCES = [
    "I want to lose weight",
    "can I speak to a real person",
    "Héllo, CAFÉ! Crème brûlée?",
    "ΘΕΛΩ ΝΑ ΧΑΣΩ ΒΑΡΟΣ",  # capital sigma at the end of a word (Python lower-cases it to ς)
    "Ο φίλος μου θέλει ύπνο",
    "I feel 🫠 today",  # an emoji newer than Python 3.10's Unicode tables
    "thanks 😀👍",
    "Сколько стоит этот набор?",
    "我想减肥",
    "أريد أن أفقد الوزن",
    "मुझे नींद नहीं आती",
    LONG,
]


def model_dir() -> Path:
    return Path(os.environ.get("ENCODER_DIR") or ROOT / "var" / "encoder")


def tokenizer(directory: Path) -> Tokenizer:
    tok = Tokenizer.from_file(str(directory / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(MAX_TOKENS)
    return tok


def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def embed(ids: list[int], weights: dict[str, np.ndarray], config: dict) -> np.ndarray:
    """One sentence's token ids -> its 384 numbers (no batch, no padding, no mask needed)."""

    def w(name: str) -> np.ndarray:
        return weights[name].astype(np.float64)

    def dense(x: np.ndarray, name: str) -> np.ndarray:  # PyTorch Linear: x W^T + b
        return x @ w(name + ".weight").T + w(name + ".bias")

    eps = config["layer_norm_eps"]
    heads = config["num_attention_heads"]
    n = len(ids)
    h = (
        w("embeddings.word_embeddings.weight")[ids]
        + w("embeddings.position_embeddings.weight")[:n]
        + w("embeddings.token_type_embeddings.weight")[0]
    )
    h = layer_norm(h, w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"), eps)
    size = h.shape[1] // heads
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q, k, v = (
            dense(h, p + f"attention.self.{name}").reshape(n, heads, size).transpose(1, 0, 2)
            for name in ("query", "key", "value")
        )
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(size)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        attention = scores / scores.sum(-1, keepdims=True)
        context = (attention @ v).transpose(1, 0, 2).reshape(n, heads * size)
        h = layer_norm(
            dense(context, p + "attention.output.dense") + h,
            w(p + "attention.output.LayerNorm.weight"),
            w(p + "attention.output.LayerNorm.bias"),
            eps,
        )
        inner = dense(h, p + "intermediate.dense")
        inner = 0.5 * inner * (1.0 + erf(inner / math.sqrt(2.0)))  # exact GELU
        h = layer_norm(
            dense(inner, p + "output.dense") + h,
            w(p + "output.LayerNorm.weight"),
            w(p + "output.LayerNorm.bias"),
            eps,
        )
    pooled = h.mean(0)
    return pooled / np.linalg.norm(pooled)


def golden(directory: Path) -> dict:
    config = json.loads((directory / "config.json").read_text())
    weights = load_file(str(directory / "model.safetensors"))
    tok = tokenizer(directory)
    rows = []
    for text in SENTENCES:
        encoding = tok.encode(text)
        vector = embed(encoding.ids, weights, config)
        rows.append(
            {
                "text": text,
                "tokens": encoding.tokens,
                "ids": encoding.ids,
                "vector": [round(float(x), 8) for x in vector],
            }
        )
    return {
        "made_by": "tests/unit/encoder_reference.py (NumPy float64 BERT + tokenizers)",
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "sentences": rows,
    }


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(golden(model_dir()), ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}")
