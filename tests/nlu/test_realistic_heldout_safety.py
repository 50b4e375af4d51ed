"""The realistic held-out set through the trained model, scored as the bot decides.

Needs models/current.tar.gz (scripts/test.sh trains it before pytest); skipped without it.
benchmarks/safety_eval.py prints the same figures with the per-message misses.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from benchmarks import safety_eval

MODEL = Path(__file__).resolve().parents[2] / "models" / "current.tar.gz"


@pytest.fixture(scope="module")
def scored() -> dict:
    if not MODEL.exists():
        pytest.skip("models/current.tar.gz is missing: run `make train` (scripts/test.sh does)")
    rows = asyncio.run(safety_eval.parse_all(str(MODEL), safety_eval.load_heldout()))
    return safety_eval.figures(rows)


def test_heldout_set_is_large_enough_and_never_trained_on(scored):
    assert scored["ordinary"] >= 130 and scored["emergencies"] + scored["medical_questions"] >= 60
    data = Path(__file__).resolve().parents[2] / "data"
    trained = "\n".join(p.read_text() for p in data.glob("nlu*.yml"))
    assert not [
        text for text in (r["text"] for r in safety_eval.load_heldout()) if f"- {text}\n" in trained
    ]


def test_no_false_emergency_and_every_real_one_recognised(scored):
    misses = [e for e in scored["safety_errors"] if "emergency" in (e["intent"], e["safety"])]
    assert scored["false_emergency_rate"] == 0.0, misses
    assert scored["emergency_recall"] == 1.0, misses


def test_medical_advice_recall_and_false_medical_rate(scored):
    assert scored["medical_advice_recall"] == 1.0, scored["safety_errors"]
    assert scored["false_medical_rate"] <= 0.02, scored["safety_errors"]
