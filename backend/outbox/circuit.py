"""Circuit breakers per provider, kept in the database so every worker shares them.

closed    → deliver as usual; each temporary failure counts, a success resets the count.
open      → after `threshold` consecutive temporary failures: nothing of this provider is
            claimed until `open_until` (the cool-down); the rows wait, no attempt is spent.
half-open → after the cool-down: each worker claims one row of the provider (a probe); a
            success closes the circuit, a failure opens it for another cool-down.
Permanent errors, the send gate's Blocked/Deferred and bugs say nothing about the provider's
health and do not count.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.logging_setup import log_event
from backend.outbox.models import OutboxCircuit

log = logging.getLogger("backend.outbox")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


def state(session: Session, *, provider: str, threshold: int, now: datetime) -> tuple[str, int]:
    """(closed | open | half_open, consecutive failures so far)."""
    circuit = session.get(OutboxCircuit, provider)
    if circuit is None:
        return CLOSED, 0
    if circuit.failures < threshold or circuit.open_until is None:
        return CLOSED, circuit.failures
    return (OPEN if _aware(circuit.open_until) > now else HALF_OPEN), circuit.failures


def record_success(session: Session, *, provider: str, now: datetime) -> None:
    """Close the circuit (one UPDATE, and only when there is something to reset)."""
    closed = session.execute(
        update(OutboxCircuit)
        .where(
            OutboxCircuit.provider == provider,
            or_(OutboxCircuit.failures > 0, OutboxCircuit.open_until.isnot(None)),
        )
        .values(failures=0, open_until=None, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if closed:
        log_event(log, "circuit closed", provider=provider)


def record_failure(
    session: Session, *, provider: str, threshold: int, cooldown: timedelta, now: datetime
) -> bool:
    """Count one temporary failure; returns True when the circuit is (again) open."""
    _ensure(session, provider, now)
    session.execute(
        update(OutboxCircuit)
        .where(OutboxCircuit.provider == provider)
        .values(failures=OutboxCircuit.failures + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    opened = session.execute(
        update(OutboxCircuit)
        .where(OutboxCircuit.provider == provider, OutboxCircuit.failures >= threshold)
        .values(open_until=now + cooldown)
        .execution_options(synchronize_session=False)
    ).rowcount
    if opened:
        log_event(log, "circuit open", logging.WARNING, provider=provider, until=now + cooldown)
    return bool(opened)


def _ensure(session: Session, provider: str, now: datetime) -> None:
    if session.get(OutboxCircuit, provider) is not None:
        return
    try:
        with session.begin_nested():  # two workers' first failure at once: one row
            session.add(OutboxCircuit(provider=provider, failures=0, updated_at=now))
    except IntegrityError:
        pass


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
