"""The review queue: scan Rasa's tracker events for messages worth a look, list them ranked,
store the trainers' labels.

Privacy: only chats whose person accepted the privacy policy (and is not erased) are scanned or
shown; a chat that lost its consent loses its items at the next scan and is hidden at once.
Emails and phone numbers are masked before anything is stored (backend/logging_setup.py).
Erasure deletes a person's items and labels (backend/privacy/registry.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from backend import tracker_events
from backend.auth.models import StaffUser
from backend.config import ROOT
from backend.contacts.consent import privacy_accepted_chats
from backend.db import utcnow
from backend.goals import GOALS
from backend.logging_setup import redact_text
from backend.training import signals
from backend.training.models import ReviewItem, ReviewLabel, ReviewScan

VERDICTS = ("confirmed", "corrected", "not_useful", "wrong_turn")
LABELLED_ENTITIES = {"goal": GOALS}  # entities a trainer may set, and their allowed values
SCAN_CONVERSATIONS = 500  # conversations read per scan (the next scan reads on)
DIALOGUE_EVENTS = 400  # events read per conversation
QUEUE_PAGE = 500  # items read at a time for the queue
MAX_TEXT = 2000
MAX_ANSWER = 1000


class ReviewError(ValueError):
    """A label the queue cannot take (unknown intent, entity text not in the message...)."""


@dataclass(frozen=True)
class Thresholds:
    low_confidence: float
    min_margin: float

    @classmethod
    def from_settings(cls, settings) -> Thresholds:
        return cls(
            settings.training_low_confidence_percent / 100,
            settings.training_min_margin_percent / 100,
        )


@functools.lru_cache(maxsize=4)
def domain_names(path: str = str(ROOT / "domain.yml")) -> dict[str, tuple[str, ...]]:
    """The domain's intents and the actions a turn may be corrected to."""
    domain = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}

    def names(entries) -> tuple[str, ...]:  # entries are names or {name: options}
        return tuple(e if isinstance(e, str) else next(iter(e)) for e in entries or ())

    intents = names(domain.get("intents"))
    actions = names(domain.get("actions")) + tuple(domain.get("responses") or {})
    return {"intents": intents, "actions": tuple(sorted(set(actions)))}


def consented(session: Session, *, sender_id: str) -> bool:
    """The chat's person accepted the privacy policy and is not erased."""
    return sender_id in privacy_accepted_chats(session, sender_ids=[sender_id])


def scan(session: Session, *, thresholds: Thresholds, limit: int = SCAN_CONVERSATIONS) -> dict:
    """Read the conversations changed since the last scan; (re)build their items."""
    after = session.execute(select(func.max(ReviewScan.last_event_id))).scalar() or 0
    changed = tracker_events.senders_changed(session, after_id=after, limit=limit)
    allowed = privacy_accepted_chats(session, sender_ids=[sender for sender, _n in changed])
    found = 0
    for sender, _newest in changed:
        if sender in allowed:
            found += _rebuild(session, sender_id=sender, thresholds=thresholds)
        else:
            _forget(session, sender_id=sender)
    last = max((newest for _s, newest in changed), default=after)
    session.add(ReviewScan(last_event_id=last, conversations=len(changed), items=found))
    session.flush()
    return {"conversations": len(changed), "items": found, "last_event_id": last}


def _rebuild(session: Session, *, sender_id: str, thresholds: Thresholds) -> int:
    existing = {
        item.message_id: item
        for item in session.execute(
            select(ReviewItem).where(ReviewItem.conversation_id == sender_id)
        ).scalars()
    }
    events = tracker_events.dialogue(session, sender_id=sender_id, limit=DIALOGUE_EVENTS)
    found = signals.findings(
        events, low_confidence=thresholds.low_confidence, min_margin=thresholds.min_margin
    )
    for f in found:
        _store(session, existing.get(f.message_id), sender_id=sender_id, finding=f)
    session.flush()
    return len(found)


def _store(session: Session, item: ReviewItem | None, *, sender_id: str, finding) -> ReviewItem:
    """Write a finding into its item (a new one when None), masked."""
    f = finding
    item = item or ReviewItem(conversation_id=sender_id, message_id=f.message_id)
    item.event_id = f.event_id
    item.text = redact_text(f.text)[:MAX_TEXT]
    item.predicted_intent = f.predicted_intent
    item.confidence = f.confidence
    item.entities = [
        {k: redact_text(str(v)) for k, v in e.items()} for e in f.entities if e.get("entity")
    ]
    item.bot_answer = redact_text(f.bot_answer)[:MAX_ANSWER]
    item.reasons = list(f.reasons)
    item.score = f.score
    item.said_at = datetime.fromtimestamp(f.timestamp, tz=timezone.utc)
    session.add(item)
    return item


def item_for_turn(session: Session, *, item: ReviewItem, event_id: int) -> ReviewItem | None:
    """The item of another customer turn of the same conversation (made when the scan did not
    flag it, so a trainer can label any turn); None: no such turn."""
    found = session.execute(
        select(ReviewItem).where(
            ReviewItem.conversation_id == item.conversation_id, ReviewItem.event_id == event_id
        )
    ).scalar_one_or_none()
    if found is not None:
        return found
    events = tracker_events.dialogue(session, sender_id=item.conversation_id, limit=DIALOGUE_EVENTS)
    turn = next((t for t in signals.turns(events) if t.event_id == event_id), None)
    if turn is None or not turn.text:
        return None
    made = _store(
        session,
        None,
        sender_id=item.conversation_id,
        finding=signals.finding(turn, ["marked_by_trainer"]),
    )
    session.flush()
    return made


def _forget(session: Session, *, sender_id: str) -> None:
    session.execute(delete(ReviewLabel).where(ReviewLabel.conversation_id == sender_id))
    session.execute(delete(ReviewItem).where(ReviewItem.conversation_id == sender_id))


def latest_labels(session: Session, *, item_ids: list[int] | None = None) -> dict[int, ReviewLabel]:
    """The newest label of each item (all items, or these)."""
    newest = select(func.max(ReviewLabel.id)).group_by(ReviewLabel.item_id)
    if item_ids is not None:
        newest = newest.where(ReviewLabel.item_id.in_(item_ids or [0]))
    labels = session.execute(select(ReviewLabel).where(ReviewLabel.id.in_(newest))).scalars()
    return {label.item_id: label for label in labels}


def queue(session: Session, *, include_reviewed: bool = False, limit: int = 100) -> list[dict]:
    """The items, highest score first (then newest); reviewed ones only when asked; only of
    chats that (still) have privacy consent."""
    query = select(ReviewItem).order_by(ReviewItem.score.desc(), ReviewItem.said_at.desc())
    if not include_reviewed:
        query = query.where(ReviewItem.id.notin_(select(ReviewLabel.item_id)))
    items: list[ReviewItem] = []
    offset = 0
    while len(items) < limit:  # pages of items; consent is read once per page, in one query
        page = list(session.execute(query.offset(offset).limit(QUEUE_PAGE)).scalars())
        allowed = privacy_accepted_chats(session, sender_ids={i.conversation_id for i in page})
        items += [item for item in page if item.conversation_id in allowed][: limit - len(items)]
        if len(page) < QUEUE_PAGE:
            break
        offset += QUEUE_PAGE
    labels = latest_labels(session, item_ids=[item.id for item in items])
    return [as_dict(item, labels.get(item.id)) for item in items]


def get_item(session: Session, *, item_id: int) -> ReviewItem | None:
    item = session.get(ReviewItem, item_id)
    if item is None or not consented(session, sender_id=item.conversation_id):
        return None
    return item


def as_dict(item: ReviewItem, label: ReviewLabel | None) -> dict:
    return {
        "id": item.id,
        "text": item.text,
        "predicted_intent": item.predicted_intent,
        "confidence": item.confidence,
        "entities": item.entities,
        "bot_answer": item.bot_answer,
        "reasons": item.reasons,
        "score": item.score,
        "said_at": item.said_at.isoformat(timespec="seconds") if item.said_at else None,
        "label": label_dict(label) if label is not None else None,
    }


def label_dict(label: ReviewLabel) -> dict:
    return {
        "verdict": label.verdict,
        "intent": label.intent,
        "entities": label.entities,
        "expected_action": label.expected_action,
        "staff_id": label.staff_id,
        "at": label.created_at.isoformat(timespec="seconds") if label.created_at else None,
    }


def annotate(
    session: Session,
    *,
    item: ReviewItem,
    staff: StaffUser,
    verdict: str,
    intent: str | None = None,
    entities: list[dict] | None = None,
    expected_action: str | None = None,
) -> ReviewLabel:
    """Store a trainer's decision on an item (who and when); raises ReviewError."""
    names = domain_names()
    if verdict not in VERDICTS:
        raise ReviewError(f"verdict must be one of {', '.join(VERDICTS)}")
    entities = entities or []
    if verdict in ("confirmed", "corrected"):
        intent = intent or (item.predicted_intent if verdict == "confirmed" else None)
        if intent not in names["intents"]:
            raise ReviewError(f"{intent!r} is not an intent of the domain")
        entities = [_checked_entity(item.text, e) for e in entities]
        if verdict == "confirmed" and not entities:
            entities = [e for e in item.entities if e.get("entity") in LABELLED_ENTITIES]
    else:
        intent, entities = None, []
    if verdict == "wrong_turn":
        if expected_action not in names["actions"]:
            raise ReviewError(f"{expected_action!r} is not an action or response of the domain")
    else:
        expected_action = None
    label = ReviewLabel(
        item_id=item.id,
        conversation_id=item.conversation_id,
        verdict=verdict,
        intent=intent,
        entities=entities,
        expected_action=expected_action,
        staff_id=staff.id,
        created_at=utcnow(),
    )
    session.add(label)
    session.flush()
    return label


def _checked_entity(text: str, entity: dict) -> dict:
    name, value = entity.get("entity"), entity.get("value")
    said = (entity.get("text") or "").strip()
    if name not in LABELLED_ENTITIES:
        raise ReviewError(f"entity must be one of {', '.join(LABELLED_ENTITIES)}")
    if value not in LABELLED_ENTITIES[name]:
        raise ReviewError(f"{name} must be one of {', '.join(LABELLED_ENTITIES[name])}")
    if not said or said not in text:
        raise ReviewError(f"the words for {name} must be part of the message")
    return {"entity": name, "value": value, "text": said}


def conversation_turns(session: Session, *, item: ReviewItem) -> list[dict]:
    """The item's conversation, masked: each customer turn with its intent and the bot's
    actions and answer; turns that are items carry their id and newest label."""
    events = tracker_events.dialogue(session, sender_id=item.conversation_id, limit=DIALOGUE_EVENTS)
    items = {
        i.event_id: i
        for i in session.execute(
            select(ReviewItem).where(ReviewItem.conversation_id == item.conversation_id)
        ).scalars()
    }
    labels = latest_labels(session, item_ids=[i.id for i in items.values()])
    out = []
    for turn in signals.turns(events):
        known = items.get(turn.event_id)
        label = labels.get(known.id) if known else None
        out.append(
            {
                "event_id": turn.event_id,
                "text": redact_text(turn.text)[:MAX_TEXT],
                "intent": turn.intent,
                "entities": [
                    {"entity": e.get("entity"), "value": redact_text(str(e.get("value") or ""))}
                    for e in turn.parse.get("entities") or []
                ],
                "actions": turn.actions,
                "bot_answer": redact_text("\n".join(turn.bot_texts))[:MAX_ANSWER],
                "item_id": known.id if known else None,
                "label": label_dict(label) if label else None,
            }
        )
    return out
