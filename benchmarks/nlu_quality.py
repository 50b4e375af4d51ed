"""Held-out NLU quality: train NLU on the NLU files in data/, test on tests/nlu/test_nlu.yml.

Run: .venv/bin/python benchmarks/nlu_quality.py [--config config.yml]
Writes benchmarks/results/nlu_quality.json and prints a summary. The held-out file is never
trained on (it lives outside data/), so the figures measure generalisation to unseen phrasing.
Macro-F1 is averaged over the intents of the test set: a `nlu_fallback` prediction (the
FallbackClassifier fired) counts as a miss but is not itself averaged in as an intent.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "nlu_quality.json"
SAFETY_INTENTS = ("ask_medical_advice", "report_emergency")
TARGETS = {"accuracy": 0.95, "macro_f1": 0.95, "safety_recall": 1.0}


def run_rasa(*args: str) -> float:
    """Run one `rasa` command quietly; return its wall time, or exit with its output on failure."""
    # An empty cache per run: Rasa would otherwise reuse trained components and hide the cost.
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONWARNINGS": "ignore",
        "RASA_CACHE_DIRECTORY": tempfile.mkdtemp(prefix="hts-rasa-cache-"),
    }
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "rasa", *args, "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        sys.exit(f"error: rasa {args[0]} {args[1]} failed (exit {proc.returncode})")
    return time.perf_counter() - started


def summarise(report_dir: Path) -> dict:
    """Read Rasa's intent report and errors into the figures this benchmark publishes."""
    report = json.loads((report_dir / "intent_report.json").read_text())
    errors_file = report_dir / "intent_errors.json"
    errors = json.loads(errors_file.read_text()) if errors_file.exists() else []
    skip = {"accuracy", "macro avg", "weighted avg", "micro avg"}
    intents = {
        name: row for name, row in report.items() if name not in skip and row.get("support", 0) > 0
    }
    macro_f1 = sum(row["f1-score"] for row in intents.values()) / len(intents)
    confusions = [
        {
            "text": e["text"],
            "expected": e["intent"],
            "predicted": e["intent_prediction"]["name"],
            "confidence": round(e["intent_prediction"]["confidence"], 3),
        }
        for e in errors
    ]
    figures = {
        "accuracy": round(report["accuracy"], 4),
        "macro_f1": round(macro_f1, 4),
        "rasa_macro_avg_f1": round(report["macro avg"]["f1-score"], 4),
        "recall": {name: round(intents[name]["recall"], 4) for name in SAFETY_INTENTS},
        "test_examples": sum(row["support"] for row in intents.values()),
        "intents": len(intents),
        "per_intent_f1": {name: round(row["f1-score"], 4) for name, row in sorted(intents.items())},
        "confusions": confusions,
    }
    entity_file = report_dir / "DIETClassifier_report.json"
    if entity_file.exists():
        entities = json.loads(entity_file.read_text())
        figures["entity_f1_diet"] = {
            name: round(row["f1-score"], 4)
            for name, row in entities.items()
            if isinstance(row, dict) and "f1-score" in row
        }
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config.yml")
    parser.add_argument("--nlu", default="data", help="training data: a file or the data/ folder")
    parser.add_argument("--test", default="tests/nlu/test_nlu.yml")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="nlu-bench-") as tmp:
        model_dir, report_dir = Path(tmp, "models"), Path(tmp, "results")
        train_s = run_rasa(
            "train", "nlu", "--config", args.config, "--nlu", args.nlu,
            "--out", str(model_dir), "--fixed-model-name", "nlu-bench",
        )  # fmt: skip
        test_s = run_rasa(
            "test", "nlu", "--model", str(model_dir / "nlu-bench.tar.gz"),
            "--nlu", args.test, "--out", str(report_dir),
        )  # fmt: skip
        figures = summarise(report_dir)

    met = {
        "accuracy": figures["accuracy"] >= TARGETS["accuracy"],
        "macro_f1": figures["macro_f1"] >= TARGETS["macro_f1"],
        "safety_recall": all(r >= TARGETS["safety_recall"] for r in figures["recall"].values()),
    }
    result = {
        "benchmark": "nlu_quality",
        "config": args.config,
        "train_data": args.nlu,
        "test_data": args.test,
        "train_seconds": round(train_s, 1),
        "test_seconds": round(test_s, 1),
        **figures,
        "targets": TARGETS,
        "targets_met": met,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")

    print(f"NLU held-out ({figures['test_examples']} examples, {figures['intents']} intents)")
    print(f"  accuracy  {figures['accuracy']:.3f}   (target >= {TARGETS['accuracy']})")
    print(f"  macro-F1  {figures['macro_f1']:.3f}   (target >= {TARGETS['macro_f1']})")
    for name, recall in figures["recall"].items():
        print(f"  recall {name:<20} {recall:.3f}   (target 1.0)")
    print(f"  train {train_s:.0f} s, test {test_s:.0f} s")
    for c in figures["confusions"]:
        print(f"  miss: {c['text']!r} {c['expected']} -> {c['predicted']} ({c['confidence']})")
    print(f"targets {'met' if all(met.values()) else 'MISSED'}; written to {RESULTS}")
    return 1 if args.strict and not all(met.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
