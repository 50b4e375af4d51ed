"""The transactional outbox: write the intent with its cause, deliver it later, never drop it.

`enqueue` adds a row in the caller's transaction (idempotent on its key), so a CRM push or a
message exists exactly when the change that caused it was committed. `deliver_due` claims due
rows (Postgres: `FOR UPDATE SKIP LOCKED`; SQLite: the engine's `BEGIN IMMEDIATE` serialises
claims), marks them `sending` with a lease, and hands each one to the deliverer registered for
its kind. Each row's outcome is committed on its own:

* the deliverer returns   → `sent` (its return value is `provider_ref`)
* `Blocked(reason)`        → `blocked` (the send gate refused; never retried automatically)
* `Deferred(until)`        → `pending` again, due at `until`, attempts unchanged (quiet hours)
* permanent IntegrationError → `dead`
* anything else            → `pending` again with exponential backoff and jitter (capped at an
  hour; a `retry_at` on the error, from Retry-After, is honoured), `dead` after MAX_ATTEMPTS.

A worker renews the lease of the rows it holds every third of OUTBOX_LEASE_SECONDS while it
works (a heartbeat thread), so a slow provider never costs it its rows, and a row whose worker
died stays `sending` at most one lease, then any worker claims it again. Before each delivery
the worker takes a slot of its provider's rate (backend/outbox/ratelimit.py).
`last_error` holds the error class and a redacted short reason, never a secret or an address.
Rows of a kind without a registered deliverer are left `pending` (delivered once one exists).
"""

from __future__ import annotations

import logging
import random
import threading
import traceback
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from backend import bus
from backend.config import Settings
from backend.db import session_scope, utcnow
from backend.events import OutboxMessageDead
from backend.integrations import IntegrationError
from backend.logging_setup import log_event, redact_text
from backend.outbox import circuit, ratelimit
from backend.outbox.models import OutboxMessage

log = logging.getLogger("backend.outbox")

PENDING, SENDING, SENT, BLOCKED, DEAD = "pending", "sending", "sent", "blocked", "dead"
STATUSES = (PENDING, SENDING, SENT, BLOCKED, DEAD)
MAX_ATTEMPTS = 30  # with a 30 s base and a 1 h cap: about a day of retrying before `dead`
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
LEASE = timedelta(seconds=30)  # the default; OUTBOX_LEASE_SECONDS sets it
ERROR_CHARS = 300

Deliverer = Callable[[Session, OutboxMessage, Settings], "str | None"]
_DELIVERERS: dict[str, Deliverer] = {}
_PROVIDERS: dict[str, str] = {}  # kind → the provider whose circuit it shares (sms, whatsapp)


class Blocked(Exception):
    """The send gate refused this message (no consent, erased contact…); it is not retried."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Deferred(Exception):
    """The send gate says "not yet" (quiet hours): deliver again at `until`, not an attempt."""

    def __init__(self, until: datetime, reason: str = "quiet hours"):
        super().__init__(reason)
        self.until = until
        self.reason = reason


class OutboxError(ValueError):
    """A staff action on the outbox cannot be done (unknown row, wrong status)."""


def register(kind: str, deliver: Deliverer, *, provider: str | None = None) -> None:
    """Make `deliver(session, message, settings) -> provider_ref` the deliverer of `kind`;
    kinds naming the same `provider` share its circuit breaker (default: the kind itself)."""
    _DELIVERERS[kind] = deliver
    _PROVIDERS[kind] = provider or kind


def provider_of(kind: str) -> str:
    return _PROVIDERS.get(kind, kind)


def registered_kinds() -> list[str]:
    bus.ensure_wired()  # backend/bootstrap.py registers every area's deliverers
    return sorted(_DELIVERERS)


def enqueue(
    session: Session,
    *,
    kind: str,
    topic: str,
    payload: dict,
    idempotency_key: str,
    purpose: str = "transactional",
    contact_id: int | None = None,
    recipient: str | None = None,
    not_before: datetime | None = None,
) -> OutboxMessage:
    """Add a message in the caller's transaction; the same key twice returns the first row."""
    existing = _by_key(session, idempotency_key)
    if existing is not None:
        return existing
    message = OutboxMessage(
        kind=kind,
        topic=topic,
        purpose=purpose,
        contact_id=contact_id,
        recipient=recipient,
        payload=payload,
        idempotency_key=idempotency_key,
        status=PENDING,
        attempts=0,
        next_attempt_at=_utc(not_before) if not_before else utcnow(),
        created_at=utcnow(),
    )
    try:
        with session.begin_nested():  # a concurrent insert of the same key loses only this row
            session.add(message)
    except IntegrityError:
        existing = _by_key(session, idempotency_key)
        if existing is None:
            raise
        return existing
    return message


def _by_key(session: Session, key: str) -> OutboxMessage | None:
    return session.execute(
        select(OutboxMessage).where(OutboxMessage.idempotency_key == key)
    ).scalar_one_or_none()


# --- delivery ------------------------------------------------------------------------------


def deliver_due(
    session_factory: sessionmaker,
    settings: Settings,
    *,
    worker_id: str,
    batch: int = 50,
    now: datetime | None = None,
    kinds: list[str] | None = None,
) -> dict[str, int]:
    """Claim up to `batch` due rows (of `kinds`, default all) and deliver each; counts per outcome.

    A kind whose provider's circuit is open is not claimed; a half-open one gets one probe row.
    When a provider's circuit opens mid-batch, its remaining claimed rows go back unattempted.
    """
    fixed_now = _utc(now) if now else None
    now = fixed_now or utcnow()
    counts = {
        "claimed": 0, SENT: 0, "retry": 0, "deferred": 0, BLOCKED: 0, DEAD: 0, "lost_lease": 0,
        "circuit_open": 0,
    }  # fmt: skip
    registered = registered_kinds()
    lanes = [kind for kind in (kinds or registered) if kind in registered]
    if not lanes:
        return counts
    health = _circuits(session_factory, settings, lanes, now)
    closed = [kind for kind in lanes if health[provider_of(kind)][0] == circuit.CLOSED]
    lease = _lease(settings)
    groups = [(closed, batch)] if closed else []
    groups += [([kind], 1) for kind in lanes if health[provider_of(kind)][0] == circuit.HALF_OPEN]
    claims: list[tuple[str, int]] = []
    for group, size in groups:  # a half-open provider gets one probe row per worker
        token, ids = _claim(
            session_factory, worker_id=worker_id, batch=size, now=now, kinds=group, lease=lease
        )
        claims += [(token, message_id) for message_id in ids]
    counts["claimed"] = len(claims)
    if not claims:
        return counts
    heartbeat = None if fixed_now else _Heartbeat(session_factory, [t for t, _ in claims], lease)
    try:
        _deliver_claims(session_factory, settings, claims, counts, health, fixed_now)
    finally:
        if heartbeat:
            heartbeat.stop()
    return counts


def _deliver_claims(session_factory, settings, claims, counts, health, fixed_now) -> None:
    buckets = ratelimit.buckets_for(settings, session_factory)
    failures = {provider: seen for provider, (_, seen) in health.items()}
    opened: dict[str, datetime] = {}
    for token, message_id in claims:
        row_now = fixed_now or utcnow()
        outcome, provider, provider_down = _deliver_one(
            session_factory,
            settings,
            message_id,
            worker_id=token,
            now=row_now,
            skip=opened,
            buckets=buckets,
        )
        counts[outcome] += 1
        if provider_down:
            failures[provider] = failures.get(provider, 0) + 1
            with session_scope(session_factory) as session:
                if circuit.record_failure(
                    session,
                    provider=provider,
                    threshold=settings.outbox_breaker_failures,
                    cooldown=timedelta(seconds=settings.outbox_breaker_cooldown_seconds),
                    now=row_now,
                ):
                    opened[provider] = row_now + timedelta(
                        seconds=settings.outbox_breaker_cooldown_seconds
                    )
        elif outcome == SENT and failures.get(provider):
            failures[provider] = 0
            with session_scope(session_factory) as session:
                circuit.record_success(session, provider=provider, now=row_now)


def _lease(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.outbox_lease_seconds)


class _Heartbeat(threading.Thread):
    """Renews the lease of every row still held under `tokens`, every third of the lease."""

    def __init__(self, factory: sessionmaker, tokens: list[str], lease: timedelta):
        super().__init__(name="outbox-lease", daemon=True)
        self.factory, self.tokens, self.lease = factory, sorted(set(tokens)), lease
        self.stopped = threading.Event()
        self.start()

    def run(self) -> None:
        while not self.stopped.wait(self.lease.total_seconds() / 3):
            try:
                with session_scope(self.factory) as session:
                    session.execute(
                        update(OutboxMessage)
                        .where(
                            OutboxMessage.claimed_by.in_(self.tokens),
                            OutboxMessage.status == SENDING,
                        )
                        .values(claimed_until=utcnow() + self.lease)
                        .execution_options(synchronize_session=False)
                    )
            except Exception as exc:  # noqa: BLE001 - the next beat tries again
                log_event(
                    log, "outbox lease renewal failed", logging.WARNING, error=type(exc).__name__
                )

    def stop(self) -> None:
        self.stopped.set()
        self.join()


def _circuits(
    factory: sessionmaker, settings: Settings, kinds: list[str], now: datetime
) -> dict[str, tuple[str, int]]:
    with factory() as session:
        return {
            provider: circuit.state(
                session, provider=provider, threshold=settings.outbox_breaker_failures, now=now
            )
            for provider in {provider_of(kind) for kind in kinds}
        }


def _claim(
    factory: sessionmaker,
    *,
    worker_id: str,
    batch: int,
    now: datetime,
    kinds: list[str],
    lease: timedelta = LEASE,
) -> tuple[str, list[int]]:
    """Claim up to `batch` due rows for one claim token; returns (token, claimed ids).

    The token is new for every claim, so a second call in the same process (or a process
    that reuses a dead one's pid) can never mistake another claim's rows for its own.
    Postgres: `FOR UPDATE SKIP LOCKED` lets any number of workers claim disjoint rows at once.
    SQLite: the select-then-update is a compare-and-set (the update repeats the due test and
    only rows it changed are ours); BEGIN IMMEDIATE serialises it, one writer at a time.
    """
    token = f"{worker_id}/{uuid.uuid4().hex[:12]}"[:100]
    due = or_(
        and_(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now),
        # a worker that died mid-delivery: its lease ran out, the row is due again
        and_(OutboxMessage.status == SENDING, OutboxMessage.claimed_until < now),
    )
    with factory() as session:
        ids = list(
            session.execute(
                select(OutboxMessage.id)
                .where(OutboxMessage.kind.in_(kinds), due)
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(batch)
                .with_for_update(skip_locked=True)  # SQLite: no-op; BEGIN IMMEDIATE serialises
            ).scalars()
        )
        if ids:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids), due)
                .values(status=SENDING, claimed_by=token, claimed_until=now + lease)
                .execution_options(synchronize_session=False)
            )
            ids = sorted(
                session.execute(
                    select(OutboxMessage.id).where(
                        OutboxMessage.id.in_(ids), OutboxMessage.claimed_by == token
                    )
                ).scalars(),
                key=ids.index,
            )
        session.commit()
    return token, ids


def _still_mine(message_id: int, worker_id: str):
    return and_(
        OutboxMessage.id == message_id,
        OutboxMessage.status == SENDING,
        OutboxMessage.claimed_by == worker_id,
    )


def _deliver_one(
    factory: sessionmaker,
    settings: Settings,
    message_id: int,
    *,
    worker_id: str,
    now: datetime,
    skip: dict[str, datetime],
    buckets: ratelimit.Buckets | None = None,
) -> tuple[str, str, bool]:
    """Deliver one claimed row: (outcome, its provider, whether the provider seemed down)."""
    with factory() as session:
        # Still ours? (The heartbeat renews the lease; a read costs no commit to disk.)
        message = session.execute(
            select(OutboxMessage).where(_still_mine(message_id, worker_id))
        ).scalar_one_or_none()
        session.commit()  # hold no database lock while the deliverer talks to the outside world
        if message is None:
            return "lost_lease", "", False
        kind, topic, attempts = message.kind, message.topic, message.attempts or 0
        provider = provider_of(kind)
        deliver = _DELIVERERS[kind]
        values: dict
        provider_down = False
        if provider in skip:  # its circuit opened during this batch: back to the queue, no try
            return _release(session, message_id, worker_id, until=skip[provider]), provider, False
        try:
            if buckets is not None:
                ratelimit.wait_for_slot(buckets, settings, provider)
            provider_ref = deliver(session, message, settings)
            values = {
                "status": SENT,
                "provider_ref": (provider_ref or "")[:200] or None,
                "sent_at": now,
                "last_error": None,
            }
            outcome = SENT
        except Blocked as exc:
            session.rollback()
            values = {"status": BLOCKED, "last_error": _describe(exc, settings)}
            outcome = BLOCKED
        except Deferred as exc:
            session.rollback()
            values = {
                "status": PENDING,
                "next_attempt_at": _utc(exc.until),
                "last_error": f"deferred: {exc.reason}"[:ERROR_CHARS],
            }
            outcome = "deferred"
        except Exception as exc:  # noqa: BLE001 - any failure is recorded; the batch goes on
            session.rollback()
            values, outcome = _failure(attempts, exc, settings, now)
            provider_down = isinstance(exc, IntegrationError) and not exc.permanent
            log.debug("outbox delivery traceback\n%s", traceback.format_exc())
        values.update(claimed_by=None, claimed_until=None)
        result = session.execute(
            update(OutboxMessage)
            .where(_still_mine(message_id, worker_id))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            # Our lease ran out and another worker took the row: its outcome counts, not ours.
            session.rollback()
            outcome = "lost_lease"
        else:
            if outcome == DEAD:  # nothing will send it now: the team is told (bootstrap.py)
                bus.publish(
                    session, OutboxMessageDead(message_id=message_id, kind=kind, topic=topic)
                )
            session.commit()
    log_event(
        log,
        "outbox delivery",
        logging.INFO if outcome in (SENT, "deferred") else logging.WARNING,
        id=message_id,
        kind=kind,
        topic=topic,
        outcome=outcome,
        error=values.get("last_error") or "",
    )
    return outcome, provider, provider_down


def _release(session: Session, message_id: int, token: str, *, until: datetime) -> str:
    session.execute(
        update(OutboxMessage)
        .where(_still_mine(message_id, token))
        .values(status=PENDING, next_attempt_at=until, claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return "circuit_open"


def _failure(
    previous_attempts: int, exc: Exception, settings: Settings, now: datetime
) -> tuple[dict, str]:
    attempts = previous_attempts + 1
    reason = _describe(exc, settings)
    permanent = isinstance(exc, IntegrationError) and exc.permanent
    if permanent or attempts >= MAX_ATTEMPTS:
        if not permanent:
            reason = f"gave up after {attempts} attempts: {reason}"[:ERROR_CHARS]
        return {"status": DEAD, "attempts": attempts, "last_error": reason}, DEAD
    next_at = now + backoff(attempts)
    retry_at = getattr(exc, "retry_at", None)  # the provider's Retry-After
    if isinstance(retry_at, datetime):
        next_at = max(next_at, _utc(retry_at))
    values = {
        "status": PENDING,
        "attempts": attempts,
        "last_error": reason,
        "next_attempt_at": next_at,
    }
    return values, "retry"


def backoff(attempts: int, *, rand: Callable[[], float] = random.random) -> timedelta:
    """Delay before attempt `attempts + 1`: doubling from 30 s, capped at 1 h, 75–100 % jitter."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** min(attempts - 1, 20)))
    return delay * (0.75 + 0.25 * rand())


def _describe(exc: Exception, settings: Settings) -> str:
    """Error class and a short reason without secrets or personal data."""
    if isinstance(exc, Blocked):
        text = f"blocked: {exc.reason}"
    elif isinstance(exc, IntegrationError):
        text = f"{type(exc).__name__}: {exc.message}"
    else:
        # An unexpected exception's text may quote anything (a row, a payload): keep the class.
        text = f"{type(exc).__name__}: unexpected error (details in the worker log)"
    return redact_text(text, settings.secret_values())[:ERROR_CHARS]


# --- staff tools ---------------------------------------------------------------------------


def list_messages(
    session: Session,
    *,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 50,
) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if status:
        query = query.where(OutboxMessage.status == status)
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    return list(session.execute(query).scalars())


def requeue(session: Session, *, message_id: int) -> OutboxMessage:
    """Put a dead or blocked message back in the queue (a blocked one meets the gate again)."""
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise OutboxError(f"there is no outbox message {message_id}")
    if message.status not in (DEAD, BLOCKED):
        raise OutboxError(
            f"outbox message {message_id} is {message.status}; only dead or blocked ones can "
            "be retried"
        )
    message.status, message.attempts, message.next_attempt_at = PENDING, 0, utcnow()
    message.claimed_by = message.claimed_until = None
    session.flush()
    return message


def forget_contact(session: Session, *, contact_id: int, reason: str = "contact erased") -> int:
    """Erasure: drop personal data from this contact's messages; stop those not yet sent."""
    messages = (
        session.execute(select(OutboxMessage).where(OutboxMessage.contact_id == contact_id))
        .scalars()
        .all()
    )
    for message in messages:
        message.payload, message.recipient = {"erased": True}, None
        if message.status in (PENDING, DEAD):
            message.status, message.last_error = BLOCKED, f"blocked: {reason}"
    session.flush()
    return len(messages)


# --- retention -----------------------------------------------------------------------------

BLANKED = {"blanked": True}


def apply_retention(
    session: Session, *, now: datetime, blank_after: timedelta, delete_after: timedelta
) -> dict[str, int]:
    """Blank sent rows older than `blank_after`; delete finished rows older than `delete_after`.

    Sent rows keep their ids, kind, topic, status and provider reference (the proof that a
    receipt or push went out) but lose the payload and recipient. Pending and sending rows are
    never touched: retention never drops a message that is still to be delivered.
    """
    blanked = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status == SENT,
            OutboxMessage.sent_at < now - blank_after,
            OutboxMessage.blanked_at.is_(None),
        )
        .values(payload=BLANKED, recipient=None, blanked_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    deleted = session.execute(
        delete(OutboxMessage)
        .where(
            OutboxMessage.status.in_((SENT, BLOCKED, DEAD)),
            OutboxMessage.created_at < now - delete_after,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    session.flush()
    return {"blanked": blanked, "deleted": deleted}


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
