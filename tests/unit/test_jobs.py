import threading
from datetime import timedelta

from sqlalchemy import select

from backend.incidents import Incident
from backend.jobs import registry
from backend.jobs.models import JobRun


def _register(name, fn):
    registry.REGISTRY[name] = registry.Job(name, fn, lambda s: timedelta(minutes=1), "test job")


def test_failing_job_is_recorded_rolled_back_and_others_still_run(session_factory, settings):
    def boom(session, _settings):
        session.add(Incident(kind="should_be_rolled_back"))
        session.flush()
        raise RuntimeError("source exploded")

    def fine(session, _settings):
        session.add(Incident(kind="written_by_ok_job"))
        return {"written": 1}

    _register("t_boom", boom)
    _register("t_fine", fine)
    try:
        failed = registry.run_job("t_boom", factory=session_factory, settings=settings)
        ok = registry.run_job("t_fine", factory=session_factory, settings=settings)
    finally:
        registry.REGISTRY.pop("t_boom"), registry.REGISTRY.pop("t_fine")
    assert failed.status == "failed" and "source exploded" in failed.error
    assert ok.status == "ok" and ok.counts == {"written": 1}
    with session_factory() as s:
        kinds = set(s.execute(select(Incident.kind)).scalars())
        runs = {r.job: r.status for r in s.execute(select(JobRun)).scalars()}
    assert kinds == {"written_by_ok_job"}
    assert runs == {"t_boom": "failed", "t_fine": "ok"}


def test_a_job_never_runs_twice_at_once(session_factory, settings):
    started, release = threading.Event(), threading.Event()

    def slow(_session, _settings):
        started.set()
        release.wait(10)
        return {}

    _register("t_slow", slow)
    results = []
    try:
        first = threading.Thread(
            target=lambda: results.append(
                registry.run_job("t_slow", factory=session_factory, settings=settings)
            )
        )
        first.start()
        assert started.wait(10)
        second = registry.run_job("t_slow", factory=session_factory, settings=settings)
        release.set()
        first.join(10)
    finally:
        registry.REGISTRY.pop("t_slow")
    assert second.status == "skipped" and second.error == "already running elsewhere"
    assert results[0].status == "ok"
    # the lock is released afterwards: the job can run again
    _register("t_slow", lambda s, st: {})
    try:
        assert registry.run_job("t_slow", factory=session_factory, settings=settings).status == "ok"
    finally:
        registry.REGISTRY.pop("t_slow")


def test_ledger_verify_job_opens_incidents_on_mismatch(session_factory, settings):
    from sqlalchemy import text

    from backend import ledger

    with session_factory() as s:
        ledger.append(s, entity_type="consent", entity_id=1, action="granted", record={"a": 1})
        s.commit()
        s.execute(text("DROP TRIGGER ledger_entries_no_update"))
        s.execute(text("UPDATE ledger_entries SET action = 'withdrawn'"))
        s.commit()
    run = registry.run_job("ledger_verify", factory=session_factory, settings=settings)
    assert run.counts == {"checked": 1, "problems": 1}
    with session_factory() as s:
        incident = s.execute(select(Incident)).scalar_one()
    assert incident.kind == "ledger_mismatch" and incident.entity_type == "consent"


def test_scheduler_runs_every_registered_job_once_at_start_then_on_its_interval(
    session_factory, settings
):
    from datetime import datetime, timezone

    from backend.jobs.scheduler import build_scheduler

    scheduler = build_scheduler(settings=settings, session_factory=session_factory)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert {"trend_ingest", "catalog_sync", "orders_expire", "ledger_verify"} <= set(jobs)
    assert jobs["trend_ingest"].trigger.interval == timedelta(minutes=settings.trend_ingest_minutes)
    for job in jobs.values():
        assert (job.next_run_time - datetime.now(timezone.utc)).total_seconds() < 5


def _lock(session_factory, name):
    from backend.jobs.models import JobLock

    with session_factory() as s:
        lock = s.get(JobLock, name)
        return lock.owner, registry_aware(lock.locked_until)


def registry_aware(value):
    from datetime import timezone

    return value if value is None or value.tzinfo else value.replace(tzinfo=timezone.utc)


def test_a_killed_holder_frees_the_lock_within_minutes(session_factory, settings):
    """The lock is a short lease (a killed scheduler stalls the job minutes, not 30)."""
    from datetime import datetime, timezone

    from backend.jobs.models import JobLock

    seen = {}

    def look(_session, _settings):
        seen["lock"] = _lock(session_factory, "t_look")
        return {}

    _register("t_look", look)
    try:
        started = datetime.now(timezone.utc)
        assert registry.run_job("t_look", factory=session_factory, settings=settings).status == "ok"
        assert seen["lock"][1] <= started + timedelta(minutes=2, seconds=5)

        # a holder that was SIGKILLed: its lease ended a moment ago, nobody released the row
        with session_factory() as s:
            lock = s.get(JobLock, "t_look")
            lock.owner = "other-host:4242/dead"
            lock.locked_until = datetime.now(timezone.utc) - timedelta(seconds=1)
            s.commit()
        run = registry.run_job("t_look", factory=session_factory, settings=settings)
        assert run.status == "ok" and seen["lock"][0].startswith(registry.OWNER)
    finally:
        registry.REGISTRY.pop("t_look")


def test_a_live_holder_renews_its_lease_while_it_runs(session_factory, settings):
    """A job that runs past its lease keeps the lock (heartbeat); a second run is skipped."""
    import time

    lease = timedelta(seconds=2)  # renewed every 0.5 s
    results = {}

    def long_job(_session, _settings):
        _, first = _lock(session_factory, "t_long")
        deadline = time.monotonic() + 20  # wait for two renewals, past the first lease's end
        renewals = 0
        while renewals < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
            _, now = _lock(session_factory, "t_long")
            if now > first:
                renewals, first = renewals + 1, now
        results["second"] = registry.run_job(
            "t_long", factory=session_factory, settings=settings, lease=lease
        )
        return {"renewals": renewals}

    _register("t_long", long_job)
    try:
        run = registry.run_job("t_long", factory=session_factory, settings=settings, lease=lease)
    finally:
        registry.REGISTRY.pop("t_long")
    assert run.status == "ok" and run.counts == {"renewals": 2}
    assert results["second"].status == "skipped"


def test_a_scheduler_can_run_only_the_named_jobs(session_factory, settings):
    import pytest

    from backend.jobs.scheduler import build_scheduler

    scheduler = build_scheduler(
        settings=settings, session_factory=session_factory, only=frozenset({"outbox"})
    )
    assert [job.id for job in scheduler.get_jobs()] == ["outbox"]
    with pytest.raises(KeyError, match="unknown job nope"):
        build_scheduler(
            settings=settings, session_factory=session_factory, only=frozenset({"nope"})
        )
