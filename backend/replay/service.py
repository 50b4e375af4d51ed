"""Turn replay for custom actions: one run per action call of a chat turn, however often the
turn is sent.

Rasa stores a turn's events only when the turn is done. When a Rasa instance dies mid-turn the
load balancer resends the turn to another instance (and a client may resend a turn whose
answer it never got): the tracker is right, but the actions of the turn would run again and
write again. Each action call therefore gets a key (`turn_key`) that is the same for a resent
turn and different for every real turn; the first call claims the key, runs, and stores its
answer (events and messages); a later call with the key gets that answer back instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from backend.db import session_scope, utcnow
from backend.replay.models import ActionReplay

log = logging.getLogger(__name__)

RUNNING, DONE = "running", "done"
POLL_SECONDS = 0.1


def turn_key(
    *, sender_id: str, action: str, events: Sequence[Mapping], slots: Mapping | None = None
) -> str:
    """SHA-256 over what a resent turn repeats and the next real turn changes.

    In: the chat, the action, the session (its `session_started` time: a new session after an
    expiry or a restart is a new turn even at the same position), the position of the latest
    user message in the events (they only grow), its text and intent, and the type and name of
    every event after it (the actions already run in this turn), and the slot values (they
    follow from the events, so a resend has the same; a call whose state differs never gets
    another's answer). Out: the message's id and time, and bot texts (a resend gets new ones,
    and responses may vary).
    """
    at = next((i for i in range(len(events) - 1, -1, -1) if events[i].get("event") == "user"), -1)
    user = events[at] if at >= 0 else {}
    session = next(
        (
            e.get("timestamp")
            for e in reversed(events[: max(at, 0)])
            if e.get("event") == "session_started"
        ),
        None,
    )
    intent = ((user.get("parse_data") or {}).get("intent") or {}).get("name")
    after = [f"{e.get('event')}:{e.get('name') or ''}" for e in events[at + 1 :]]
    canonical = json.dumps(
        [sender_id, action, session, at, user.get("text"), intent, after, slots or {}],
        separators=(",", ":"),
        ensure_ascii=False,
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    """What a call may do: `run` (it holds the claim), `replay` (the first answer), `busy` (the
    first attempt is still running after the wait), or `unguarded` (the store is down)."""

    kind: str
    key: str = ""
    claim: str = ""
    events: list = field(default_factory=list)
    messages: list = field(default_factory=list)


def claim(
    session: Session, *, key: str, sender_id: str, action: str, stale_before: datetime
) -> Entry | None:
    """Claim the key (the caller commits), or the stored answer; None while another attempt
    holds it. A claim older than `stale_before` belongs to a dead attempt and is taken over."""
    row = session.execute(select(ActionReplay).where(ActionReplay.key == key)).scalar_one_or_none()
    token = uuid.uuid4().hex
    if row is None:
        session.add(
            ActionReplay(key=key, sender_id=sender_id, action=action, state=RUNNING, claim=token)
        )
        session.flush()  # a concurrent first claim fails here (unique key)
        return Entry("run", key, token)
    if row.state == DONE:
        return Entry(
            "replay", key, events=list(row.events or []), messages=list(row.messages or [])
        )
    taken = session.execute(
        update(ActionReplay)
        .where(
            ActionReplay.key == key,
            ActionReplay.state == RUNNING,
            ActionReplay.claimed_at < stale_before,
        )
        .values(claim=token, claimed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return Entry("run", key, token) if taken.rowcount == 1 else None


def record(session: Session, *, entry: Entry, events: list, messages: list) -> bool:
    """Store the answer of the attempt holding the claim; False when the claim is gone (taken
    over, or the row erased with the person's data during the action)."""
    done = session.execute(
        update(ActionReplay)
        .where(ActionReplay.key == entry.key, ActionReplay.claim == entry.claim)
        .values(state=DONE, events=events, messages=messages)
        .execution_options(synchronize_session=False)
    )
    return done.rowcount == 1


def release(session: Session, *, entry: Entry) -> None:
    """A failed attempt gives the key up: a resend runs the action again."""
    session.execute(
        delete(ActionReplay).where(ActionReplay.key == entry.key, ActionReplay.claim == entry.claim)
    )


def prune(session: Session, *, before: datetime) -> int:
    """Retention: answers may hold personal data and are needed only minutes after the turn."""
    return (
        session.execute(delete(ActionReplay).where(ActionReplay.created_at < before)).rowcount or 0
    )


def guard_for(session_factory: sessionmaker, *, settings) -> TurnGuard:
    return TurnGuard(
        session_factory,
        wait_seconds=settings.action_replay_wait_seconds,
        stale_seconds=settings.action_replay_stale_seconds,
    )


@dataclass(frozen=True)
class TurnGuard:
    """Runs an action call once per key, with its own short transactions (not the action's)."""

    session_factory: sessionmaker
    wait_seconds: float = 10.0
    stale_seconds: float = 120.0

    async def enter(self, *, key: str, sender_id: str, action: str) -> Entry:
        deadline = asyncio.get_running_loop().time() + self.wait_seconds
        while True:
            try:
                entry = self._try_claim(key=key, sender_id=sender_id, action=action)
            except Exception:  # noqa: BLE001 - the store is down: the action runs as before
                log.warning("action replay store unavailable", extra={"action": action})
                return Entry("unguarded")
            if entry is not None:
                return entry
            if asyncio.get_running_loop().time() >= deadline:
                return Entry("busy", key)
            await asyncio.sleep(POLL_SECONDS)

    def _try_claim(self, *, key: str, sender_id: str, action: str) -> Entry | None:
        stale_before = utcnow() - timedelta(seconds=self.stale_seconds)
        try:
            with session_scope(self.session_factory) as session:
                return claim(
                    session, key=key, sender_id=sender_id, action=action, stale_before=stale_before
                )
        except IntegrityError:
            return None  # another attempt claimed it first; wait for its answer

    def finish(self, entry: Entry, *, events: list, messages: list) -> None:
        if entry.kind != "run":
            return
        try:
            with session_scope(self.session_factory) as session:
                record(session, entry=entry, events=events, messages=messages)
        except Exception:  # noqa: BLE001 - the answer still goes out; a resend may run again
            log.warning("action replay answer not stored", extra={"replay_key": entry.key[:12]})

    def abandon(self, entry: Entry) -> None:
        if entry.kind != "run":
            return
        try:
            with session_scope(self.session_factory) as session:
                release(session, entry=entry)
        except Exception:  # noqa: BLE001 - the claim goes stale and is taken over later
            log.warning("action replay claim not released", extra={"replay_key": entry.key[:12]})


async def once(
    guard: TurnGuard,
    *,
    key: str,
    sender_id: str,
    action: str,
    messages: list,
    work: Callable[[], Awaitable[list]],
    on_busy: Callable[[], None],
) -> list:
    """Run `work` (an action call that appends to `messages` and returns events) once per key.

    A repeat gets the first answer: its messages appended to `messages`, its events returned.
    While the first attempt still runs a repeat waits up to `guard.wait_seconds`, then answers
    with `on_busy()` (the polite "try again") and writes nothing. An attempt that raises gives
    the key up and re-raises.
    """
    entry = await guard.enter(key=key, sender_id=sender_id, action=action)
    if entry.kind == "replay":
        messages.extend(entry.messages)
        return entry.events
    if entry.kind == "busy":
        log.warning("resent turn still running elsewhere", extra={"action": action})
        on_busy()
        return []
    start = len(messages)
    try:
        events = await work()
    except BaseException:
        guard.abandon(entry)
        raise
    guard.finish(entry, events=list(events or []), messages=messages[start:])
    return events
