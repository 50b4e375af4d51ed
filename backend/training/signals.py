"""Which customer messages of one conversation are worth a trainer's look, and why.

Pure: takes a conversation's tracker events (backend/tracker_events.py `dialogue`), returns
findings. A message is flagged when
- the bot fell back (`nlu_fallback`, or a fallback action answered it) or took it as out of scope;
- the classifier was unsure: top confidence below `low_confidence`, or the top two intents
  closer than `min_margin`;
- the customer said nearly the same thing again right after the bot's answer (a rephrase);
- the customer asked for a person right after the bot's answer;
- the safety net overrode the classifier (backend/rasa_ext/safety_net.py notes it);
- a form asked for the same slot a third time after this message.
Button taps (`/intent` payloads) name their intent themselves and are never flagged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FALLBACK_INTENT = "nlu_fallback"
FALLBACK_ACTIONS = ("action_default_fallback", "action_core_fallback", "action_two_stage_fallback")
HANDOFF_INTENT = "request_human"
OUT_OF_SCOPE = "out_of_scope"
SAFETY_NET_KEY = "safety_net"  # backend/rasa_ext/safety_net.py OVERRIDE_KEY
ACTIVE_LOOP = "active_loop:"  # a form started (active_loop:<form>) or ended (active_loop:)
REASKS = 3  # the same slot asked this many times in a row
REPHRASE_SIMILARITY = 0.5  # word-set overlap (Jaccard) of two consecutive messages
MIN_REPHRASE_WORDS = 3
# How much each reason weighs in the queue's ranking.
WEIGHTS = {
    "fallback": 5,
    "safety_override": 4,
    "handoff_after_answer": 4,
    "rephrased": 3,
    "form_reasked": 3,
    "out_of_scope": 2,
    "low_confidence": 2,
    "small_margin": 1,
    "marked_by_trainer": 0,  # a turn a trainer opened from the conversation view
}
_WORD = re.compile(r"\w+")


@dataclass
class Turn:
    """A customer message and what the bot did until the next one."""

    event_id: int
    data: dict  # Rasa's user event
    bot_texts: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)  # and ACTIVE_LOOP marks
    reasons: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return (self.data.get("text") or "").strip()

    @property
    def parse(self) -> dict:
        return self.data.get("parse_data") or {}

    @property
    def intent(self) -> str | None:
        return ((self.parse.get("intent") or {}).get("name")) or None

    @property
    def is_button(self) -> bool:
        return self.text.startswith("/")


@dataclass(frozen=True)
class Finding:
    event_id: int
    message_id: str
    text: str  # as typed (the caller masks it)
    predicted_intent: str | None
    confidence: float
    entities: list[dict]
    bot_answer: str
    reasons: tuple[str, ...]
    timestamp: float

    @property
    def score(self) -> int:
        return sum(WEIGHTS[r.split(":", 1)[0]] for r in self.reasons)


def classifier_ranking(parse: dict) -> list[dict]:
    """The intent ranking without the fallback's own entry (what the classifier thought)."""
    ranking = [r for r in parse.get("intent_ranking") or [] if r.get("name") != FALLBACK_INTENT]
    if not ranking and (parse.get("intent") or {}).get("name"):
        ranking = [parse["intent"]]
    return ranking


def similar(a: str, b: str) -> bool:
    """Nearly the same words (a rephrase), for messages of a few words or more."""
    wa, wb = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    if len(wa) < MIN_REPHRASE_WORDS or len(wb) < MIN_REPHRASE_WORDS or wa == wb == set():
        return False
    return len(wa & wb) / len(wa | wb) >= REPHRASE_SIMILARITY


def turns(events: list[tuple[int, dict]]) -> list[Turn]:
    """Group the events into customer turns; form re-asks are noted on the turn before."""
    out: list[Turn] = []
    asked, streak = None, 0
    for event_id, data in events:
        kind = data.get("event")
        if kind == "user":
            out.append(Turn(event_id, data))
        elif not out:
            continue
        elif kind == "bot" and (data.get("text") or "").strip():
            out[-1].bot_texts.append(data["text"].strip())
        elif kind == "action" and data.get("name") != "action_listen":
            out[-1].actions.append(data.get("name") or "")
        elif kind == "slot" and data.get("name") == "requested_slot":
            slot = data.get("value")
            streak = streak + 1 if slot is not None and slot == asked else int(slot is not None)
            asked = slot
            if streak == REASKS:
                out[-1].reasons.append(f"form_reasked:{slot}")
        elif kind == "active_loop":
            out[-1].actions.append(f"{ACTIVE_LOOP}{data.get('name') or ''}")
            if data.get("name") is None:
                asked, streak = None, 0
    return out


def findings(
    events: list[tuple[int, dict]], *, low_confidence: float, min_margin: float
) -> list[Finding]:
    """The flagged customer messages of one conversation, oldest first."""
    chat = turns(events)
    found = []
    for i, turn in enumerate(chat):
        if turn.is_button or not turn.text:
            continue
        reasons = list(turn.reasons)
        parse, intent = turn.parse, turn.intent
        ranking = classifier_ranking(parse)
        if intent == FALLBACK_INTENT or any(a in FALLBACK_ACTIONS for a in turn.actions):
            reasons.append("fallback")
        if intent == OUT_OF_SCOPE:
            reasons.append("out_of_scope")
        if parse.get(SAFETY_NET_KEY):
            reasons.append("safety_override")
        elif ranking:
            top = float(ranking[0].get("confidence") or 0.0)
            if top < low_confidence:
                reasons.append("low_confidence")
            if len(ranking) > 1 and top - float(ranking[1].get("confidence") or 0.0) < min_margin:
                reasons.append("small_margin")
        following = chat[i + 1] if i + 1 < len(chat) else None
        if following is not None and turn.bot_texts:
            if following.intent == HANDOFF_INTENT:
                reasons.append("handoff_after_answer")
            if not following.is_button and similar(turn.text, following.text):
                reasons.append("rephrased")
        if not reasons:
            continue
        found.append(finding(turn, reasons))
    return found


def finding(turn: Turn, reasons: list[str]) -> Finding:
    """A turn as a queue finding (the classifier's best guess as the predicted intent)."""
    ranking = classifier_ranking(turn.parse)
    best = ranking[0] if ranking else {}
    return Finding(
        event_id=turn.event_id,
        message_id=str(turn.data.get("message_id") or f"row-{turn.event_id}"),
        text=turn.text,
        predicted_intent=best.get("name") or turn.intent,
        confidence=round(float(best.get("confidence") or 0.0), 4),
        entities=_entities(turn.text, turn.parse.get("entities") or []),
        bot_answer="\n".join(turn.bot_texts),
        reasons=tuple(dict.fromkeys(reasons)),
        timestamp=float(turn.data.get("timestamp") or 0.0),
    )


def _entities(text: str, entities: list[dict]) -> list[dict]:
    out = []
    for e in entities:
        start, end = e.get("start"), e.get("end")
        said = text[start:end] if isinstance(start, int) and isinstance(end, int) else ""
        out.append({"entity": e.get("entity"), "value": str(e.get("value") or ""), "text": said})
    return out
