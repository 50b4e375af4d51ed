"""Time of every pattern that sees user text, and of a whole NLU parse, on hostile input.

Shapes: one long word ("aaaa…"), "a@a@…", "1 1 1 …", "....", and a mix of address and phone
characters, each at 10k, 100k and 1M characters. Measured on one core (CPU time of this
process): the regexes of data/nlu.yml as Rasa runs them (re.finditer, IGNORECASE), the log
redaction, the email/name patterns of the contact form, the safety net and the lookup tables;
then `Agent.parse_message` of the trained model (models/current.tar.gz) on the same words, with
backend.rasa_ext.speedups installed as in `rasa run`.
The old email regex of data/nlu.yml is timed at 10k and 20k characters for comparison (it is
quadratic: 1M would take hours).

Run: .venv/bin/python benchmarks/hostile_input.py [--sizes 10000,100000,1000000] [--no-model]
Results: benchmarks/results/hostile_input.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from rasa.nlu.utils.pattern_utils import extract_patterns  # noqa: E402
from rasa.shared.nlu.training_data.loading import load_data  # noqa: E402

from backend import safety  # noqa: E402
from backend.contacts.consent_answer import is_clear_affirmation  # noqa: E402
from backend.contacts.validation import check_email, check_name  # noqa: E402
from backend.logging_setup import redact_text  # noqa: E402

clock = time.process_time
RESULTS = ROOT / "benchmarks" / "results" / "hostile_input.json"
OLD_NLU_EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
SHAPES = {
    "word": lambda n: "a" * n,
    "a@": lambda n: ("a@" * (n // 2 + 1))[:n],
    "1 ": lambda n: ("1 " * (n // 2 + 1))[:n],
    "dots": lambda n: "." * n,
    "mixed": lambda n: ("Ab9._%+-@(1) " * (n // 13 + 1))[:n],
}


def timed(fn, text: str) -> float:
    started = clock()
    fn(text)
    return round(clock() - started, 4)


def finditer(pattern: str):
    return lambda text: sum(1 for _ in re.finditer(pattern, text, flags=re.IGNORECASE))


def pattern_cases() -> dict:
    data = load_data(str(ROOT / "data" / "nlu.yml"))
    nlu = {
        p["name"]: p["pattern"]
        for p in extract_patterns(data, use_lookup_tables=True, use_regexes=True)
    }
    return {
        "nlu.yml email (RegexFeaturizer/RegexEntityExtractor)": finditer(nlu["email"]),
        "nlu.yml phone": finditer(nlu["phone"]),
        "nlu.yml lookup goal": finditer(nlu["goal"]),
        "nlu.yml lookup product": finditer(nlu["product"]),
        "log redaction (redact_text)": redact_text,
        "contact form email check (check_email)": check_email,
        "contact form name check (check_name)": check_name,
        "safety net (backend.safety.classify)": safety.classify,
        "consent answer (is_clear_affirmation)": lambda t: is_clear_affirmation(
            text=t, intent="affirm", via_button=False
        ),
    }


def measure_patterns(sizes: list[int]) -> dict:
    results = {}
    for name, fn in pattern_cases().items():
        results[name] = {
            shape: {str(n): timed(fn, make(n)) for n in sizes} for shape, make in SHAPES.items()
        }
        worst = max(max(v.values()) for v in results[name].values())
        print(f"{name:55} worst {worst:.3f} s")
    old = finditer(OLD_NLU_EMAIL)
    results["before: nlu.yml email (old pattern)"] = {
        "word": {str(n): timed(old, "a" * n) for n in (10_000, 20_000)}
    }
    print("before: old email pattern, word:", results["before: nlu.yml email (old pattern)"])
    return results


def measure_model(sizes: list[int]) -> dict:
    from rasa.core.agent import Agent

    from backend.rasa_ext import speedups as rasa_speedups

    rasa_speedups.install()  # as in `rasa run` (the launcher installs them)
    model = ROOT / "models" / "current.tar.gz"
    if not model.exists():
        return {"skipped": "no models/current.tar.gz (make train)"}
    agent = Agent.load(str(model))

    async def parse(text: str) -> dict:
        return await agent.parse_message(text)

    loop = asyncio.new_event_loop()
    results = {"normal message": None}
    started = clock()
    parsed = loop.run_until_complete(parse("my email is jane@example.org, call 415 555 0166"))
    results["normal message"] = {
        "seconds": round(clock() - started, 4),
        "entities": sorted(e["entity"] for e in parsed["entities"]),
    }
    for shape in ("word", "a@", "1 "):
        results[shape] = {}
        for n in sizes:
            text = SHAPES[shape](n)
            started = clock()
            parsed = loop.run_until_complete(parse(text))
            results[shape][str(n)] = {
                "seconds": round(clock() - started, 4),
                "intent": parsed["intent"]["name"],
                "entities": len(parsed["entities"]),
            }
            print(f"model parse {shape:5} {n:>9} chars: {results[shape][str(n)]}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--no-model", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    report = {
        "sizes": sizes,
        "unit": "CPU seconds on one core",
        "patterns": measure_patterns(sizes),
        "model_parse": {} if args.no_model else measure_model(sizes),
        "machine": {
            "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(),
            "cpus_on_machine": os.cpu_count(),
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
