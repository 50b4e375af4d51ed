"""The cart intents on messages the model never saw: the realistic held-out set
(tests/nlu/realistic/heldout.yml) and tests/nlu/test_nlu.yml, parsed by the trained model the
way the bot decides (benchmarks/safety_eval.parse_all).

Results: benchmarks/results/cart_nlu.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import safety_eval  # noqa: E402

CART_INTENTS = ("add_to_cart", "remove_from_cart", "show_cart", "empty_cart")
RESULTS = ROOT / "benchmarks" / "results" / "cart_nlu.json"


def examples() -> list[dict]:
    rows = [r for r in safety_eval.load_heldout() if r["intent"] in CART_INTENTS]
    for block in yaml.safe_load((ROOT / "tests" / "nlu" / "test_nlu.yml").read_text())["nlu"]:
        if block.get("intent") in CART_INTENTS:
            for line in block["examples"].splitlines():
                text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", line.strip()[2:])
                if text:
                    rows.append({"text": text, "intent": block["intent"]})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "current.tar.gz"))
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    rows = asyncio.run(safety_eval.parse_all(args.model, examples()))
    result = {
        "benchmark": "cart_nlu",
        "messages": len(rows),
        "correct": sum(r["predicted"] == r["intent"] for r in rows),
        "errors": [
            {"text": r["text"], "intent": r["intent"], "predicted": r["predicted"]}
            for r in rows
            if r["predicted"] != r["intent"]
        ],
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"cart intents on unseen messages: {result['correct']}/{result['messages']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
