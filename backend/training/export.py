"""Labelled messages -> `data/nlu_reviewed.yml`; a labelled conversation -> a test story.

The reviewed examples go to one file of their own, rewritten from every label at each export.
An example is skipped (and reported) when its text is already in the other data/ files (a
duplicate with the same intent, a conflict with another), when reviewed messages with the same
text were given different intents (a conflict: all of them skipped), or when it holds square
brackets (Rasa's entity markup). Texts are the masked ones the queue stored.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import ROOT
from backend.training import signals
from backend.training.models import ReviewItem
from backend.training.review import conversation_turns, latest_labels

REVIEWED_FILE = ROOT / "data" / "nlu_reviewed.yml"
STORIES_DIR = ROOT / "tests" / "stories"
HEADER = (
    'version: "3.1"\n'
    "# Reviewed customer messages (masked), written by `backend training export` from the\n"
    "# trainers' labels in the review queue. Rewritten at every export: label, don't edit.\n"
)


@dataclass
class Export:
    yaml: str = ""
    examples: list[dict] = field(default_factory=list)  # {text, intent, entities, item_id}
    duplicates: list[dict] = field(default_factory=list)
    conflicts: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)

    def report(self) -> dict:
        return {
            "exported": len(self.examples),
            "examples": self.examples,
            "duplicates": self.duplicates,
            "conflicts": self.conflicts,
            "skipped": self.skipped,
        }


def key(text: str) -> str:
    return " ".join(text.lower().split())


def existing_examples(data_dir: Path, *, leave_out: Path) -> dict[str, tuple[str, str]]:
    """The NLU examples of data/ (but `leave_out`): text key -> (intent, file name)."""
    from rasa.shared.nlu.training_data.loading import load_data

    found: dict[str, tuple[str, str]] = {}
    for path in sorted(data_dir.glob("*.yml")):
        if path.resolve() == leave_out.resolve() or "nlu:" not in path.read_text("utf-8"):
            continue
        for message in load_data(str(path)).intent_examples:
            found.setdefault(key(message.get("text")), (message.get("intent"), path.name))
    return found


def nlu_examples(
    session: Session, *, data_dir: Path = ROOT / "data", out: Path = REVIEWED_FILE
) -> Export:
    """The reviewed examples and the report of what was left out, as one Export."""
    result = Export()
    labels = latest_labels(session)
    wanted = {i: lb for i, lb in labels.items() if lb.verdict in ("confirmed", "corrected")}
    items = {
        item.id: item
        for item in session.execute(
            select(ReviewItem).where(ReviewItem.id.in_(list(wanted) or [0]))
        ).scalars()
    }
    by_text: dict[str, list[dict]] = defaultdict(list)
    for item_id, label in sorted(wanted.items()):
        text = " ".join(items[item_id].text.split())
        row = {"item_id": item_id, "text": text, "intent": label.intent, "entities": label.entities}
        if "[" in text or "]" in text:
            result.skipped.append({**row, "why": "square brackets (entity markup)"})
            continue
        by_text[key(text)].append(row)
    known = existing_examples(data_dir, leave_out=out)
    for text_key, rows in by_text.items():
        intents = sorted({row["intent"] for row in rows})
        if len(intents) > 1:
            result.conflicts.append({"text": rows[0]["text"], "intents": intents, "in": "reviews"})
            continue
        if text_key in known:
            intent, where = known[text_key]
            kind = result.duplicates if intent == intents[0] else result.conflicts
            kind.append(
                {"text": rows[0]["text"], "intents": sorted({intent, intents[0]}), "in": where}
            )
            continue
        result.examples.append(rows[0])
        result.duplicates.extend(
            {"text": row["text"], "intents": intents, "in": "reviews"} for row in rows[1:]
        )
    result.yaml = nlu_yaml(result.examples)
    return result


def annotated(text: str, entities: list[dict]) -> str:
    """Rasa's markup: `[lose weight]{"entity": "goal", "value": "weight_loss"}` (first match)."""
    for e in entities:
        said = e.get("text") or ""
        at = text.find(said) if said else -1
        if at < 0:
            continue
        markup = json.dumps({"entity": e["entity"], "value": e["value"]})
        text = f"{text[:at]}[{said}]{markup}{text[at + len(said) :]}"
    return text


def nlu_yaml(examples: list[dict]) -> str:
    grouped: dict[str, list[str]] = defaultdict(list)
    for row in examples:
        grouped[row["intent"]].append(annotated(row["text"], row["entities"]))
    body = {
        "nlu": [
            {"intent": name, "examples": _block(texts)} for name, texts in sorted(grouped.items())
        ]
    }
    return HEADER + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=1000)


def _block(texts: list[str]) -> str:
    return "".join(f"- {t}\n" for t in texts)


def write_nlu(export: Export, out: Path = REVIEWED_FILE) -> Path | None:
    """Write the file (None: nothing to write, the old file stays as it is)."""
    if not export.examples:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(export.yaml, encoding="utf-8")
    return out


# --- test stories ------------------------------------------------------------------------


def story_yaml(session: Session, *, item: ReviewItem) -> str:
    """The item's conversation as a test story: each customer turn with its (corrected) intent
    and the bot's actions; a turn marked wrong ends the story with the action it should have
    taken. Texts are masked."""
    steps: list[dict] = []
    for turn in conversation_turns(session, item=item):
        label = turn["label"] or {}
        intent = label.get("intent") or turn["intent"]
        text = turn["text"]
        if label.get("entities"):
            text = annotated(text, label["entities"])
        steps.append({"user": text, "intent": intent})
        if label.get("verdict") == "wrong_turn":
            steps.append({"action": label["expected_action"]})
            break
        for action in turn["actions"]:
            if action.startswith(signals.ACTIVE_LOOP):
                steps.append({"active_loop": action[len(signals.ACTIVE_LOOP) :] or None})
            else:
                steps.append({"action": action})
    body = {"stories": [{"story": f"reviewed conversation (item {item.id})", "steps": steps}]}
    return (
        'version: "3.1"\n'
        "# A reviewed conversation (masked), written by `backend training story`.\n"
        + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=1000)
    )


def story_path(item: ReviewItem, stories_dir: Path = STORIES_DIR) -> Path:
    return stories_dir / f"test_reviewed_{item.id}.yml"
