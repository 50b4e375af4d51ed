"""The transactional outbox on real SQLite (and Postgres when TEST_POSTGRES_URL is set):
idempotent enqueue, outcomes, backoff, leases, two workers racing, staff commands."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from backend.db import make_session_factory, session_scope
from backend.integrations import IntegrationError
from backend.jobs import registry
from backend.outbox import queue as outbox
from backend.outbox.models import OutboxMessage
from tests.helpers import backend_cli

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
SECRET = "pat-na1-0a1b2c3d-real-looking-secret"


class Scripted:
    """A deliverer for kind "test": each message's payload says what to do on each attempt."""

    def __init__(self):
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, session, message, settings):
        with self.lock:
            self.calls.append(message.id)
            attempt = self.calls.count(message.id)
        script = message.payload["script"]
        step = script[min(attempt, len(script)) - 1]
        if step == "ok":
            return f"ref-{message.id}"
        if step == "temporary":
            raise IntegrationError("provider: server error 503")
        if step == "permanent":
            raise IntegrationError("provider: 400 bad request", permanent=True)
        if step == "blocked":
            raise outbox.Blocked("no marketing consent for sms")
        if step == "leaky":
            raise IntegrationError(
                f"provider: 400 address jane.doe@example.org rejected for token {SECRET}",
                permanent=True,
            )
        if step == "rate_limited":
            error = IntegrationError("provider: rate limited (429)")
            error.retry_at = T0 + timedelta(hours=3)
            raise error
        raise KeyError("jane.doe@example.org")  # a bug whose text quotes personal data


@pytest.fixture
def deliverer():
    scripted = Scripted()
    outbox.register("test", scripted)
    yield scripted
    outbox._DELIVERERS.pop("test", None)


@pytest.fixture
def settings_with_secret(db_url):
    from backend.config import load_settings

    return load_settings({"DATABASE_URL": db_url, "HUBSPOT_ACCESS_TOKEN": SECRET}, dotenv=False)


def add(factory, *script, key=None, kind="test", not_before=None) -> int:
    with session_scope(factory) as session:
        message = outbox.enqueue(
            session,
            kind=kind,
            topic="unit",
            payload={"script": list(script)},
            idempotency_key=key or f"k-{uuid.uuid4()}",
            not_before=not_before or T0,
        )
        session.flush()
        return message.id


def row(factory, message_id) -> OutboxMessage:
    with factory() as session:
        return session.get(OutboxMessage, message_id)


def aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def deliver(factory, settings, now=T0, worker="w1", batch=50):
    return outbox.deliver_due(factory, settings, worker_id=worker, batch=batch, now=now)


@pytest.fixture(params=["sqlite", "postgres"])
def factory(request):
    if request.param == "sqlite":
        return request.getfixturevalue("session_factory")
    return request.getfixturevalue("pg_session_factory")


# --- enqueue ---------------------------------------------------------------------------


def test_enqueue_is_idempotent_on_its_key(factory):
    with session_scope(factory) as session:
        first = outbox.enqueue(
            session, kind="crm", topic="t", payload={"a": 1}, idempotency_key="event-1"
        )
        again = outbox.enqueue(
            session, kind="crm", topic="t", payload={"a": 2}, idempotency_key="event-1"
        )
        assert again is first
    with session_scope(factory) as session:  # a later transaction (a redelivered webhook)
        later = outbox.enqueue(
            session, kind="crm", topic="t", payload={"a": 3}, idempotency_key="event-1"
        )
        assert later.id == first.id and later.payload == {"a": 1}
    with factory() as session:
        assert session.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 1


def test_enqueue_belongs_to_the_callers_transaction(session_factory):
    with pytest.raises(RuntimeError), session_scope(session_factory) as session:
        outbox.enqueue(session, kind="crm", topic="t", payload={}, idempotency_key="k")
        raise RuntimeError("the change that caused it failed")
    with session_factory() as session:
        assert session.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 0


def test_concurrent_enqueue_of_one_key_keeps_one_row(factory):
    """Two transactions enqueue the same key at once: both succeed, one row exists."""
    start = threading.Barrier(2)
    results, errors = [], []

    def one(_):
        try:
            start.wait()
            with session_scope(factory) as session:
                message = outbox.enqueue(
                    session, kind="crm", topic="t", payload={}, idempotency_key="same"
                )
                session.flush()
                results.append(message.id)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []
    assert len(results) == 2 and len(set(results)) == 1
    with factory() as session:
        assert session.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 1


# --- outcomes --------------------------------------------------------------------------


def test_delivery_success_records_the_provider_reference(session_factory, settings, deliverer):
    message_id = add(session_factory, "ok")
    counts = deliver(session_factory, settings)
    assert counts["claimed"] == 1 and counts["sent"] == 1
    sent = row(session_factory, message_id)
    assert (sent.status, sent.provider_ref, sent.attempts) == ("sent", f"ref-{message_id}", 0)
    assert sent.claimed_by is None and sent.claimed_until is None and sent.last_error is None
    assert aware(sent.sent_at) == T0
    assert deliver(session_factory, settings, now=T0 + timedelta(days=1))["claimed"] == 0
    assert deliverer.calls == [message_id]


def test_a_message_is_not_delivered_before_not_before(session_factory, settings, deliverer):
    message_id = add(session_factory, "ok", not_before=T0 + timedelta(hours=1))
    assert deliver(session_factory, settings, now=T0)["claimed"] == 0
    assert deliver(session_factory, settings, now=T0 + timedelta(hours=1))["sent"] == 1
    assert row(session_factory, message_id).status == "sent"


def test_temporary_failure_backs_off_then_succeeds(session_factory, settings, deliverer):
    message_id = add(session_factory, "temporary", "temporary", "ok")
    assert deliver(session_factory, settings, now=T0)["retry"] == 1
    first = row(session_factory, message_id)
    assert (first.status, first.attempts) == ("pending", 1)
    assert first.last_error == "IntegrationError: provider: server error 503"
    wait_1 = aware(first.next_attempt_at) - T0
    assert timedelta(seconds=22.5) <= wait_1 <= timedelta(seconds=30)

    # not due yet: nothing is claimed
    assert deliver(session_factory, settings, now=T0 + timedelta(seconds=20))["claimed"] == 0
    now = aware(first.next_attempt_at)
    assert deliver(session_factory, settings, now=now)["retry"] == 1
    second = row(session_factory, message_id)
    wait_2 = aware(second.next_attempt_at) - now
    assert second.attempts == 2 and timedelta(seconds=45) <= wait_2 <= timedelta(seconds=60)

    assert deliver(session_factory, settings, now=aware(second.next_attempt_at))["sent"] == 1
    done = row(session_factory, message_id)
    assert (done.status, done.attempts, done.provider_ref) == ("sent", 2, f"ref-{message_id}")
    assert done.last_error is None


def test_backoff_doubles_and_is_capped_at_an_hour():
    assert outbox.backoff(1, rand=lambda: 1.0) == timedelta(seconds=30)
    assert outbox.backoff(4, rand=lambda: 1.0) == timedelta(seconds=240)
    assert outbox.backoff(1, rand=lambda: 0.0) == timedelta(seconds=22.5)
    assert outbox.backoff(12, rand=lambda: 1.0) == timedelta(hours=1)
    assert outbox.backoff(500, rand=lambda: 1.0) == timedelta(hours=1)


def test_retry_after_from_the_provider_is_honoured(session_factory, settings, deliverer):
    message_id = add(session_factory, "rate_limited", "ok")
    deliver(session_factory, settings)
    waiting = row(session_factory, message_id)
    assert aware(waiting.next_attempt_at) == T0 + timedelta(hours=3)
    assert deliver(session_factory, settings, now=T0 + timedelta(hours=2))["claimed"] == 0
    assert deliver(session_factory, settings, now=T0 + timedelta(hours=3))["sent"] == 1


def test_permanent_failure_is_dead_and_not_retried(session_factory, settings, deliverer):
    message_id = add(session_factory, "permanent")
    assert deliver(session_factory, settings)["dead"] == 1
    dead = row(session_factory, message_id)
    assert (dead.status, dead.attempts) == ("dead", 1)
    assert dead.last_error == "IntegrationError: provider: 400 bad request"
    assert deliver(session_factory, settings, now=T0 + timedelta(days=30))["claimed"] == 0
    assert deliverer.calls == [message_id]


def test_temporary_failures_end_dead_after_max_attempts(session_factory, settings, deliverer):
    message_id = add(session_factory, "temporary")
    now = T0
    for _ in range(outbox.MAX_ATTEMPTS):
        deliver(session_factory, settings, now=now)
        now += timedelta(hours=2)
    dead = row(session_factory, message_id)
    assert (dead.status, dead.attempts) == ("dead", outbox.MAX_ATTEMPTS)
    assert dead.last_error.startswith(f"gave up after {outbox.MAX_ATTEMPTS} attempts")
    assert len(deliverer.calls) == outbox.MAX_ATTEMPTS


def test_blocked_by_the_send_gate_is_never_retried(session_factory, settings, deliverer):
    message_id = add(session_factory, "blocked", "ok")
    assert deliver(session_factory, settings)["blocked"] == 1
    blocked = row(session_factory, message_id)
    assert blocked.status == "blocked"
    assert blocked.last_error == "blocked: no marketing consent for sms"
    assert blocked.attempts == 0
    assert deliver(session_factory, settings, now=T0 + timedelta(days=30))["claimed"] == 0


def test_one_bad_row_does_not_stop_the_batch(session_factory, settings, deliverer):
    good_1 = add(session_factory, "ok")
    bad = add(session_factory, "bug")
    good_2 = add(session_factory, "ok")
    counts = deliver(session_factory, settings)
    assert (counts["sent"], counts["retry"]) == (2, 1)
    assert row(session_factory, good_1).status == row(session_factory, good_2).status == "sent"
    failed = row(session_factory, bad)
    assert failed.status == "pending" and failed.attempts == 1
    # the exception's own text (which quoted an address) is not stored
    assert failed.last_error == "KeyError: unexpected error (details in the worker log)"


def test_last_error_holds_no_secret_or_address(session_factory, settings_with_secret, deliverer):
    message_id = add(session_factory, "leaky")
    deliver(session_factory, settings_with_secret)
    error = row(session_factory, message_id).last_error
    assert error.startswith("IntegrationError: provider: 400 address")
    assert "jane.doe" not in error and "example.org" not in error and SECRET not in error


def test_a_rollback_in_the_deliverer_discards_its_writes(session_factory, settings):
    from backend.incidents import Incident

    def half_done(session, message, _settings):
        session.add(Incident(kind="written_then_failed"))
        session.flush()
        raise IntegrationError("provider: server error 502")

    outbox.register("half", half_done)
    try:
        add(session_factory, "x", kind="half")
        deliver(session_factory, settings)
    finally:
        outbox._DELIVERERS.pop("half")
    with session_factory() as session:
        assert session.execute(select(func.count()).select_from(Incident)).scalar_one() == 0


def test_rows_of_a_kind_without_deliverer_wait(session_factory, settings, deliverer):
    waiting = add(session_factory, "ok", kind="carrier_pigeon")
    assert deliver(session_factory, settings)["claimed"] == 0
    assert row(session_factory, waiting).status == "pending"


# --- leases ----------------------------------------------------------------------------


def test_a_row_stuck_in_sending_is_reclaimed_after_its_lease(factory, settings, deliverer):
    message_id = add(factory, "ok")
    with session_scope(factory) as session:  # a worker claimed it, then was SIGKILLed
        message = session.get(OutboxMessage, message_id)
        message.status, message.claimed_by = "sending", "dead-worker"
        message.claimed_until = T0 + timedelta(minutes=5)
    assert deliver(factory, settings, now=T0 + timedelta(minutes=4))["claimed"] == 0
    assert deliver(factory, settings, now=T0 + timedelta(minutes=6))["sent"] == 1
    assert row(factory, message_id).status == "sent"
    assert deliverer.calls == [message_id]


def test_the_heartbeat_keeps_a_slow_deliverys_lease(factory, db_url):
    """A delivery that outlasts the lease (1 s here) keeps its row: the worker's heartbeat
    renews the lease while it lives, so nobody else claims the row meanwhile."""
    from backend.config import load_settings
    from backend.db import utcnow

    settings = load_settings({"DATABASE_URL": db_url, "OUTBOX_LEASE_SECONDS": "1"}, dotenv=False)
    seen = {}

    def slow(session, message, _settings):
        stop = threading.Event()
        stop.wait(2.5)  # two and a half leases
        seen["claim"] = outbox._claim(
            factory, worker_id="w2", batch=5, now=utcnow(), kinds=["slow"], lease=timedelta(1)
        )
        return "ref"

    outbox.register("slow", slow)
    try:
        message_id = add(factory, "x", kind="slow", not_before=utcnow())
        counts = outbox.deliver_due(factory, settings, worker_id="w1", kinds=["slow"])
    finally:
        outbox._DELIVERERS.pop("slow")
    assert seen["claim"][1] == []  # the other worker found nothing due
    assert counts["sent"] == 1 and row(factory, message_id).status == "sent"


def test_a_reclaim_by_the_same_worker_id_voids_the_first_claim(session_factory, settings):
    """One process (same host:pid) claims a row again after its lease ran out, while the first
    delivery still hangs: the stale first delivery must not record an outcome (the new claim's
    delivery will). Worker ids alone cannot tell the two claims apart; the claim token can."""
    second = {}

    def hanging(session, message, _settings):
        second["claim"] = outbox._claim(
            session_factory, worker_id="w1", batch=5, now=T0 + timedelta(hours=1), kinds=["slow"]
        )
        return "late-ref"

    outbox.register("slow", hanging)
    try:
        message_id = add(session_factory, "x", kind="slow")
        counts = deliver(session_factory, settings, worker="w1")
    finally:
        outbox._DELIVERERS.pop("slow")
    assert counts["lost_lease"] == 1 and counts["sent"] == 0
    token, claimed = second["claim"]
    assert claimed == [message_id] and token.startswith("w1/")
    message = row(session_factory, message_id)
    assert (message.status, message.claimed_by, message.provider_ref) == ("sending", token, None)


def test_a_worker_that_lost_its_lease_does_not_record_an_outcome(session_factory, settings):
    """Worker 1 is slow; its lease runs out; worker 2 takes the row; worker 1's result is void."""
    ids = {}

    def slow(session, message, _settings):
        # meanwhile another worker reclaimed the row
        with session_scope(session_factory) as other:
            other.get(OutboxMessage, message.id).claimed_by = "w2"
        return "late-ref"

    outbox.register("slow", slow)
    try:
        ids["m"] = add(session_factory, "x", kind="slow")
        counts = deliver(session_factory, settings, worker="w1")
    finally:
        outbox._DELIVERERS.pop("slow")
    assert counts["lost_lease"] == 1 and counts["sent"] == 0
    message = row(session_factory, ids["m"])
    assert (message.status, message.claimed_by, message.provider_ref) == ("sending", "w2", None)


def test_two_workers_racing_deliver_each_row_exactly_once(factory, settings, deliverer):
    ids = [add(factory, "ok", key=f"race-{i}") for i in range(60)]
    start = threading.Barrier(3)

    def work(worker):
        start.wait()
        while deliver(factory, settings, worker=worker, batch=7)["claimed"]:
            pass

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(deliverer.calls) == sorted(ids)  # every row once, none twice
    with factory() as session:
        statuses = set(session.execute(select(OutboxMessage.status)).scalars())
    assert statuses == {"sent"}


def test_outbox_job_runs_in_several_schedulers_at_once(factory, settings, deliverer):
    """The outbox job takes no fleet-wide lock: two runs at once both deliver, each row once."""
    ids = [add(factory, "ok", key=f"job-{i}") for i in range(120)]  # more than one batch
    both_delivering = threading.Barrier(2, timeout=20)
    met = threading.local()

    def meet_then_deliver(session, message, settings_):
        if not getattr(met, "done", False):  # each run's first delivery waits for the other's
            met.done = True
            both_delivering.wait()
        return deliverer(session, message, settings_)

    outbox.register("test", meet_then_deliver)
    runs = []

    def run():
        runs.append(registry.run_job("outbox", factory=factory, settings=settings))

    threads = [threading.Thread(target=run) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert [r.status for r in runs] == ["ok", "ok"]
    assert sorted(deliverer.calls) == sorted(ids)  # every row once, none twice
    assert sum(r.counts["sent"] for r in runs) == len(ids)


@pytest.mark.postgres
def test_skip_locked_lets_a_second_worker_take_other_rows(pg_engine, settings, deliverer):
    """While one worker holds its claim transaction open, another claims the remaining rows."""
    factory = make_session_factory(pg_engine)
    ids = [add(factory, "ok", key=f"sl-{i}") for i in range(4)]
    holder = factory()
    locked = list(
        holder.execute(
            select(OutboxMessage.id)
            .order_by(OutboxMessage.id)
            .limit(2)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    counts = deliver(factory, settings, worker="w2")  # must not wait for the holder
    holder.rollback()
    holder.close()
    assert locked == ids[:2]
    assert counts["sent"] == 2 and sorted(deliverer.calls) == ids[2:]


# --- staff tools, job, CLI -------------------------------------------------------------


def test_requeue_puts_dead_and_blocked_rows_back(session_factory, settings, deliverer):
    dead = add(session_factory, "permanent", "ok")
    blocked = add(session_factory, "blocked", "ok")
    sent = add(session_factory, "ok")
    deliver(session_factory, settings)
    with session_scope(session_factory) as session:
        for message_id in (dead, blocked):
            outbox.requeue(session, message_id=message_id)
        with pytest.raises(outbox.OutboxError, match="only dead or blocked"):
            outbox.requeue(session, message_id=sent)
        with pytest.raises(outbox.OutboxError, match="no outbox message"):
            outbox.requeue(session, message_id=9999)
    assert row(session_factory, dead).attempts == 0
    assert deliver(session_factory, settings, now=datetime.now(timezone.utc))["sent"] == 2


def test_outbox_job_delivers_due_rows(session_factory, settings, deliverer):
    message_id = add(session_factory, "ok")
    run = registry.run_job("outbox", factory=session_factory, settings=settings)
    assert run.status == "ok" and run.counts["sent"] == 1
    assert registry.load_jobs()["outbox"].every(settings) == timedelta(seconds=30)
    assert row(session_factory, message_id).status == "sent"


def test_cli_lists_and_retries_without_showing_personal_data(session_factory, db_url):
    with session_scope(session_factory) as session:
        message = outbox.enqueue(
            session,
            kind="crm",
            topic="contact_updated",
            payload={"fields": {"email": "jane.doe@example.org"}},
            idempotency_key="cli-1",
            recipient="jane.doe@example.org",
        )
        message.status, message.last_error = "dead", "IntegrationError: hubspot: 400 bad"
        session.flush()
        message_id = message.id
    env = {"DATABASE_URL": db_url}
    listed = backend_cli("outbox", "list", "--status", "dead", env=env)
    assert listed.returncode == 0, listed.stderr
    assert f"{message_id}\tcrm\tcontact_updated\tdead\t0" in listed.stdout
    assert "hubspot: 400 bad" in listed.stdout and "jane.doe" not in listed.stdout

    retried = backend_cli("outbox", "retry", str(message_id), env=env)
    assert retried.returncode == 0, retried.stderr
    assert f"1 message(s) queued again: {message_id}" in retried.stdout
    assert row(session_factory, message_id).status == "pending"

    again = backend_cli("outbox", "retry", str(message_id), env=env)
    assert again.returncode == 2
    assert "is pending; only dead or blocked ones can be retried" in again.stderr
    missing = backend_cli("outbox", "retry", "--all-dead", "7", env=env)
    assert missing.returncode == 2 and "not both" in missing.stderr
