"""Current model vs candidate on the project's evaluation sets, before anything is deployed.

Both models are loaded in this process with Rasa's Agent and parse every message of
- `heldout`: tests/nlu/test_nlu.yml (unseen phrasings, never trained on),
- `realistic`: tests/nlu/realistic/heldout.yml (multi-sentence customer messages, never trained
  on; the safety figures come from it and from `heldout`),
- `reviewed`: data/nlu_reviewed.yml, the trainers' own examples (trained on by the candidate:
  it shows whether the candidate learned them, not how well it generalises).
A message's safety outcome is what the person would see (backend.safety.outcome). The report is
JSON plus markdown (compare.{json,md} in TRAINING_REPORT_DIR, default results/training);
the dashboard shows the JSON.
Promotion (`promote`) copies the candidate over the current model: a person's step, audited.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
from collections import defaultdict
from pathlib import Path

from sqlalchemy.orm import Session

from backend import ledger, safety
from backend.config import ROOT
from backend.db import utcnow

EVAL_SETS = {
    "heldout": ROOT / "tests" / "nlu" / "test_nlu.yml",
    "realistic": ROOT / "tests" / "nlu" / "realistic" / "heldout.yml",
}
REVIEWED_SET = "reviewed"
CURRENT, CANDIDATE = "current.tar.gz", "candidate.tar.gz"  # in TRAINING_MODELS_DIR
MAX_CHANGED = 200  # changed predictions listed in the report


class CompareError(RuntimeError):
    """A model or evaluation file is missing or unreadable."""


def load_set(path: Path) -> list[dict]:
    from rasa.shared.nlu.training_data.loading import load_data

    return [
        {"text": m.get("text"), "intent": m.get("intent")}
        for m in load_data(str(path)).intent_examples
    ]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


async def _predict(model: Path, texts: list[str]) -> list[str]:
    import logging

    from rasa.core.agent import Agent

    logging.getLogger("rasa").setLevel(logging.WARNING)
    agent = Agent.load(str(model))
    return [(await agent.parse_message(text))["intent"]["name"] for text in texts]


def predict(model: Path, texts: list[str]) -> list[str]:
    """Each text's final intent (after the safety net and the fallback) under `model`."""
    return asyncio.run(_predict(model, texts))


def figures(rows: list[dict], which: str) -> dict:
    """Accuracy and the safety rates of one model (`which`) over rows with expected intents."""
    seen = [(r, safety.outcome(r["text"], r[which])) for r in rows]
    expected = [(r, safety.EXPECTED_OUTCOME.get(r["intent"], safety.NO_SCRIPT)) for r in rows]
    not_emergency = [i for i, (_r, e) in enumerate(expected) if e != safety.EMERGENCY]
    emergencies = [i for i, (_r, e) in enumerate(expected) if e == safety.EMERGENCY]
    medical = [i for i, (_r, e) in enumerate(expected) if e == safety.MEDICAL]

    def rate(indexes: list[int], outcome: str) -> float | None:
        if not indexes:
            return None
        return round(sum(seen[i][1] == outcome for i in indexes) / len(indexes), 4)

    return {
        "accuracy": round(sum(r[which] == r["intent"] for r in rows) / len(rows), 4)
        if rows
        else None,
        "false_emergency_rate": rate(not_emergency, safety.EMERGENCY),
        "emergency_recall": rate(emergencies, safety.EMERGENCY),
        "medical_advice_recall": rate(medical, safety.MEDICAL),
    }


def compare(
    *, current: Path, candidate: Path, reviewed: Path | None = None, sets: dict | None = None
) -> dict:
    """The report: per set both models' figures, per-intent changes, changed predictions."""
    for model in (current, candidate):
        if not model.is_file():
            raise CompareError(f"no model at {model}")
    named = dict(sets or EVAL_SETS)
    if reviewed is not None and reviewed.is_file():
        named[REVIEWED_SET] = reviewed
    rows: list[dict] = []
    for name, path in named.items():
        if not path.is_file():
            raise CompareError(f"no evaluation set at {path}")
        rows += [{**row, "set": name} for row in load_set(path)]
    texts = [r["text"] for r in rows]
    for which, model in (("current", current), ("candidate", candidate)):
        for row, intent in zip(rows, predict(model, texts), strict=True):
            row[which] = intent
    return report(rows, current=current, candidate=candidate)


def report(rows: list[dict], *, current: Path, candidate: Path) -> dict:
    by_set: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_set[row["set"]].append(row)
    held_out = [r for r in rows if r["set"] != REVIEWED_SET]
    per_intent = []
    for intent in sorted({r["intent"] for r in held_out}):
        mine = [r for r in held_out if r["intent"] == intent]
        before = sum(r["current"] == intent for r in mine) / len(mine)
        after = sum(r["candidate"] == intent for r in mine) / len(mine)
        per_intent.append(
            {
                "intent": intent,
                "n": len(mine),
                "current": round(before, 4),
                "candidate": round(after, 4),
                "change": round(after - before, 4),
            }
        )
    changed = [
        {
            "set": r["set"],
            "text": r["text"],
            "expected": r["intent"],
            "current": r["current"],
            "candidate": r["candidate"],
            "effect": "fixed"
            if r["candidate"] == r["intent"]
            else "broken"
            if r["current"] == r["intent"]
            else "still wrong",
        }
        for r in rows
        if r["current"] != r["candidate"]
    ]
    return {
        "generated_at": utcnow().isoformat(timespec="seconds"),
        "current": {"model": current.name, "sha256": sha256(current)},
        "candidate": {"model": candidate.name, "sha256": sha256(candidate)},
        "sets": {
            name: {
                "messages": len(set_rows),
                "current": figures(set_rows, "current"),
                "candidate": figures(set_rows, "candidate"),
            }
            for name, set_rows in by_set.items()
        },
        "held_out": {
            "current": figures(held_out, "current"),
            "candidate": figures(held_out, "candidate"),
        },
        "per_intent": per_intent,
        "changed_count": len(changed),
        "changed": changed[:MAX_CHANGED],
        "fixed": sum(c["effect"] == "fixed" for c in changed),
        "broken": sum(c["effect"] == "broken" for c in changed),
    }


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


FIGURES = (
    ("accuracy", "intent accuracy"),
    ("false_emergency_rate", "false-emergency rate"),
    ("emergency_recall", "emergency recall"),
    ("medical_advice_recall", "medical-advice recall"),
)


def markdown(data: dict) -> str:
    lines = [
        "# Current vs candidate model",
        "",
        f"Generated {data['generated_at']}: current `{data['current']['model']}` "
        f"({data['current']['sha256'][:12]}), candidate `{data['candidate']['model']}` "
        f"({data['candidate']['sha256'][:12]}).",
        "",
        f"{data['changed_count']} predictions changed: {data['fixed']} fixed, "
        f"{data['broken']} broken.",
        "",
        "| set | messages | figure | current | candidate |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, figs in data["sets"].items():
        for key, label in FIGURES:
            lines.append(
                f"| {name} | {figs['messages']} | {label} | {_pct(figs['current'][key])} | "
                f"{_pct(figs['candidate'][key])} |"
            )
    lines += ["", "## Per intent (held-out sets)", "", "| intent | n | current | candidate |"]
    lines.append("| --- | --- | --- | --- |")
    for row in data["per_intent"]:
        mark = "" if row["change"] == 0 else (" ▲" if row["change"] > 0 else " ▼")
        lines.append(
            f"| {row['intent']} | {row['n']} | {_pct(row['current'])} | "
            f"{_pct(row['candidate'])}{mark} |"
        )
    lines += ["", "## Messages whose prediction changed", ""]
    lines += ["| set | message | expected | current | candidate | effect |"]
    lines.append("| --- | --- | --- | --- | --- | --- |")
    for c in data["changed"]:
        text = c["text"].replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| {c['set']} | {text} | {c['expected']} | {c['current']} | {c['candidate']} | "
            f"{c['effect']} |"
        )
    return "\n".join(lines) + "\n"


def write(data: dict, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    as_json, as_md = out_dir / "compare.json", out_dir / "compare.md"
    as_json.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    as_md.write_text(markdown(data), encoding="utf-8")
    return as_json, as_md


def latest(out_dir: Path) -> dict | None:
    """The last report written there (None: none yet, or unreadable)."""
    path = out_dir / "compare.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None


def promote(session: Session, *, actor: str, models_dir: Path) -> dict:
    """Copy the candidate over the current model (atomically) and write the ledger entry."""
    candidate, current = models_dir / CANDIDATE, models_dir / CURRENT
    if not candidate.is_file():
        raise CompareError(f"no candidate model at {candidate}: run `make train-candidate`")
    new = sha256(candidate)
    old = sha256(current) if current.is_file() else None
    staging = current.with_name(current.name + ".promoting")
    shutil.copyfile(candidate, staging)
    os.replace(staging, current)
    record = {"candidate_sha256": new, "previous_sha256": old, "actor": actor}
    ledger.append(
        session, entity_type="model", entity_id=new[:16], action="promoted", record=record
    )
    return {"model": current.name, **record}
