"""Outbox lanes and circuit breakers, with fake deliverers, on SQLite and Postgres."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from backend.config import load_settings
from backend.db import session_scope
from backend.integrations import IntegrationError
from backend.jobs import registry
from backend.outbox import queue as outbox
from backend.outbox.models import OutboxCircuit, OutboxMessage

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
COOLDOWN = timedelta(seconds=60)


class Provider:
    """A fake provider: `down` makes every call a temporary failure; records each call."""

    def __init__(self):
        self.down = False
        self.calls: list[int] = []

    def __call__(self, session, message, settings):
        self.calls.append(message.id)
        if self.down:
            raise IntegrationError("fake: server error 503")
        return f"ref-{message.id}"


@pytest.fixture(params=["sqlite", "postgres"])
def factory(request):
    if request.param == "sqlite":
        return request.getfixturevalue("session_factory")
    return request.getfixturevalue("pg_session_factory")


@pytest.fixture
def settings(db_url):
    return load_settings(
        {
            "DATABASE_URL": db_url,
            "OUTBOX_BREAKER_FAILURES": "3",
            "OUTBOX_BREAKER_COOLDOWN_SECONDS": "60",
            "OUTBOX_LANE_BATCH": "5",
        },
        dotenv=False,
    )


@pytest.fixture
def providers():
    fakes = {"lane_a": Provider(), "lane_b": Provider(), "lane_c": Provider()}
    outbox.register("lane_a", fakes["lane_a"], provider="shared")
    outbox.register("lane_b", fakes["lane_b"], provider="shared")  # like sms and whatsapp
    outbox.register("lane_c", fakes["lane_c"])
    yield fakes
    for kind in fakes:
        outbox._DELIVERERS.pop(kind, None)
        outbox._PROVIDERS.pop(kind, None)


def add(factory, kind, n=1) -> list[int]:
    with session_scope(factory) as session:
        rows = [
            outbox.enqueue(
                session,
                kind=kind,
                topic="t",
                payload={},
                idempotency_key=f"{kind}-{uuid.uuid4()}",
                not_before=T0,
            )
            for _ in range(n)
        ]
        session.flush()
        return [r.id for r in rows]


def statuses(factory, ids) -> list[tuple[str, int]]:
    with factory() as session:
        rows = session.execute(
            select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)
        ).scalars()
        return [(r.status, r.attempts) for r in rows]


def deliver(factory, settings, now, kinds=None, worker="w1", batch=50):
    return outbox.deliver_due(
        factory, settings, worker_id=worker, batch=batch, now=now, kinds=kinds
    )


def test_circuit_opens_after_k_failures_and_the_rest_wait_unattempted(factory, settings, providers):
    providers["lane_c"].down = True
    ids = add(factory, "lane_c", 6)
    counts = deliver(factory, settings, T0, kinds=["lane_c"])
    # three temporary failures open the circuit; the other three go back without an attempt
    assert (counts["retry"], counts["circuit_open"]) == (3, 3)
    assert statuses(factory, ids) == [("pending", 1)] * 3 + [("pending", 0)] * 3
    assert len(providers["lane_c"].calls) == 3
    # during the cool-down no worker claims the provider's rows, whoever it is
    later = T0 + timedelta(seconds=59)
    assert deliver(factory, settings, later, kinds=["lane_c"], worker="w2")["claimed"] == 0
    assert len(providers["lane_c"].calls) == 3


def test_half_open_probe_closes_on_success_and_reopens_on_failure(factory, settings, providers):
    providers["lane_c"].down = True
    ids = add(factory, "lane_c", 3)
    deliver(factory, settings, T0, kinds=["lane_c"])  # opens at T0, for 60 s
    add(factory, "lane_c", 4)
    after = T0 + timedelta(hours=1)  # every backoff over, the circuit half-open
    counts = deliver(factory, settings, after, kinds=["lane_c"])
    assert (counts["claimed"], counts["retry"]) == (1, 1)  # one probe, failed: open again
    assert deliver(factory, settings, after + COOLDOWN / 2, kinds=["lane_c"])["claimed"] == 0

    providers["lane_c"].down = False
    probe_time = after + COOLDOWN
    counts = deliver(factory, settings, probe_time, kinds=["lane_c"])
    assert (counts["claimed"], counts["sent"]) == (1, 1)  # the probe succeeded: closed
    with factory() as session:
        circuit = session.get(OutboxCircuit, "lane_c")
        assert (circuit.failures, circuit.open_until) == (0, None)
    counts = deliver(factory, settings, probe_time, kinds=["lane_c"])
    assert counts["sent"] == 6  # the rest, the failed probe's row included (its backoff ≤ 60 s)
    assert {status for status, _ in statuses(factory, ids)} == {"sent"}


def test_an_open_circuit_stops_only_its_own_provider(factory, settings, providers):
    providers["lane_a"].down = True
    add(factory, "lane_a", 3)
    deliver(factory, settings, T0, kinds=["lane_a"])  # "shared" opens
    b_ids, c_ids = add(factory, "lane_b", 2), add(factory, "lane_c", 2)
    counts = deliver(factory, settings, T0 + timedelta(seconds=1))
    assert providers["lane_b"].calls == []  # same provider as lane_a: waits
    assert sorted(providers["lane_c"].calls) == c_ids and counts["sent"] == 2
    assert statuses(factory, b_ids) == [("pending", 0)] * 2


def test_a_success_resets_the_failure_count(factory, settings, providers):
    fake = providers["lane_c"]
    fake.down = True
    add(factory, "lane_c", 2)
    deliver(factory, settings, T0, kinds=["lane_c"])  # two failures: still closed
    fake.down = False
    add(factory, "lane_c", 1)
    deliver(factory, settings, T0 + timedelta(hours=1), kinds=["lane_c"])
    with factory() as session:
        assert session.get(OutboxCircuit, "lane_c").failures == 0


def test_a_hanging_lane_does_not_hold_up_the_others(session_factory, settings, providers):
    """The outbox job runs lanes side by side: lane_a's provider hangs until lane_c is done
    (lane_a sorts first, so lanes run one after another would wait the full 30 s and fail)."""
    c_ids = add(session_factory, "lane_c", 12)  # more than one batch of 5
    add(session_factory, "lane_a", 1)
    c_done = threading.Event()
    seen = {}

    def hanging(session, message, _settings):
        seen["c_done_while_hanging"] = c_done.wait(timeout=30)
        return "late"

    def counting(session, message, settings_):
        ref = providers["lane_c"](session, message, settings_)
        if len(providers["lane_c"].calls) == len(c_ids):
            c_done.set()
        return ref

    outbox.register("lane_a", hanging, provider="shared")
    outbox.register("lane_c", counting)
    run = registry.run_job("outbox", factory=session_factory, settings=settings)
    assert run.status == "ok" and run.counts["sent"] == 13
    assert seen["c_done_while_hanging"] is True
