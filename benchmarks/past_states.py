"""CPU time of the conversation states the policies ask for, Rasa's loop against the resumed one.

Every story, rule and test story of the project (no augmentation; optionally repeated end to
end to make longer conversations) is replayed event by event as the processor does: before
each action the policies ask for the states (RulePolicy twice after a user message, once
otherwise; MemoizationPolicy once, without rule-only turns). Modes:
  * rasa: Rasa's own `Domain.states_for_tracker_history` (RASA_SPEEDUPS=0);
  * per_turn: the speedup with a new tracker object at each user message, as `rasa run` reads
    the tracker from the store for each message (what production gets);
  * one_object: the speedup on one tracker object for the whole conversation (the most a
    cache kept across turns could give).
CPU time of this process (time.process_time), best of --repeat runs.

Run: .venv/bin/python benchmarks/past_states.py [--repeat 3] [--concat 1,4]
Results: benchmarks/results/past_states.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from rasa.shared.core.domain import Domain  # noqa: E402
from rasa.shared.core.events import ActionExecuted, UserUttered  # noqa: E402
from rasa.shared.core.trackers import DialogueStateTracker  # noqa: E402

from backend.rasa_ext import speedups  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "past_states.json"


def project_trackers() -> tuple[Domain, list[DialogueStateTracker]]:
    """The domain and the trackers of every story, rule and test story (no augmentation)."""
    from rasa.core.training import load_data
    from rasa.shared.importers.importer import TrainingDataImporter

    importer = TrainingDataImporter.load_from_config(
        str(ROOT / "config.yml"),
        str(ROOT / "domain.yml"),
        [str(ROOT / "data"), str(ROOT / "tests" / "stories")],
    )
    domain = importer.get_domain()
    return domain, load_data(importer, domain, augmentation_factor=0)


def replay(
    domain: Domain, events: list, rule_only: dict, *, new_object_per_turn: bool
) -> tuple[float, int]:
    """The policies' calls along one conversation: (CPU seconds in them, how many)."""
    tracker = DialogueStateTracker("bench", domain.slots)
    seconds, calls = 0.0, 0
    for event in events:
        if isinstance(event, UserUttered) and new_object_per_turn:
            tracker = DialogueStateTracker.from_events("bench", list(tracker.events), domain.slots)
        if isinstance(event, ActionExecuted):
            after_user = tracker.latest_action_name == "action_listen"
            started = time.process_time()
            for _ in range(2 if after_user else 1):  # RulePolicy: with text, with intent
                tracker.past_states(domain)
            tracker.past_states(domain, False, True, rule_only)  # MemoizationPolicy
            seconds += time.process_time() - started
            calls += 3 if after_user else 2
        tracker.update(event)
    return seconds, calls


def run(domain: Domain, conversations: list[list], rule_only: dict, mode: str) -> dict:
    original = Domain.states_for_tracker_history.__wrapped__
    patched = Domain.states_for_tracker_history
    if mode == "rasa":
        Domain.states_for_tracker_history = original
    try:
        timed = [
            replay(domain, events, rule_only, new_object_per_turn=mode != "one_object")
            for events in conversations
        ]
        seconds, calls = sum(t[0] for t in timed), sum(t[1] for t in timed)
    finally:
        Domain.states_for_tracker_history = patched
    return {"seconds": round(seconds, 4), "calls": calls, "ms_per_call": seconds * 1000 / calls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concat", default="1,4", help="stories joined end to end")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    speedups.install()
    domain, trackers = project_trackers()
    conversations = [list(t.events) for t in trackers if not t.is_rule_tracker]
    slots = [s.name for s in domain.slots if s.influence_conversation][:3]
    rule_only = {"rule_only_slots": slots, "rule_only_loops": list(domain.form_names)[:1]}
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_average_before": os.getloadavg(),
        "stories": len(conversations),
        "runs": {},
    }
    for concat in (int(n) for n in args.concat.split(",")):
        joined = [sum(conversations[i : i + concat], []) for i in range(len(conversations))]
        events = sum(len(c) for c in joined) / len(joined)
        row: dict = {"mean_events": round(events, 1)}
        for mode in ("rasa", "per_turn", "one_object"):
            best = min(
                (run(domain, joined, rule_only, mode) for _ in range(args.repeat)),
                key=lambda r: r["seconds"],
            )
            row[mode] = {**best, "ms_per_call": round(best["ms_per_call"], 4)}
        row["speedup_per_turn"] = round(row["rasa"]["seconds"] / row["per_turn"]["seconds"], 2)
        row["speedup_one_object"] = round(row["rasa"]["seconds"] / row["one_object"]["seconds"], 2)
        results["runs"][f"x{concat}"] = row
        print(f"stories x{concat} ({events:.0f} events):", json.dumps(row))
    results["load_average_after"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print("load average", results["load_average_before"], "->", results["load_average_after"])


if __name__ == "__main__":
    main()
