"""Per-provider delivery rates: one bucket shared by every worker, in the database or in Redis."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from backend.config import ConfigError, load_settings
from backend.db import make_engine, make_session_factory, session_scope
from backend.outbox import queue as outbox
from backend.outbox import ratelimit
from backend.outbox.models import OutboxRateBucket

NOW = 1_800_000_000.0  # a fixed Unix time: waits are exact


@pytest.fixture(params=["sqlite", "postgres"])
def factory(request):
    if request.param == "sqlite":
        return request.getfixturevalue("session_factory")
    return request.getfixturevalue("pg_session_factory")


def redis_buckets(redis_url, factory):
    import redis

    client = redis.Redis.from_url(redis_url)
    buckets = ratelimit.RedisBuckets(client, fallback=ratelimit.DatabaseBuckets(factory))
    return buckets, client


def test_a_full_bucket_lets_one_second_of_requests_go_then_spaces_the_rest(factory):
    buckets = ratelimit.DatabaseBuckets(factory)
    waits = [buckets.reserve("crm", per_second=4, now=NOW) for _ in range(7)]
    assert waits == pytest.approx([0, 0, 0, 0, 0.25, 0.5, 0.75])
    # once the queue has gone, the bucket is full again: four at once, then spaced
    later = [buckets.reserve("crm", per_second=4, now=NOW + 1.75) for _ in range(5)]
    assert later == pytest.approx([0, 0, 0, 0, 0.25])
    assert buckets.reserve("email", per_second=4, now=NOW) == 0  # each provider its own bucket


def test_workers_with_their_own_connections_share_one_bucket(pg_url, pg_engine):
    """Eight workers, each with its own engine (as separate processes have), reserve at once:
    the slots they get are the provider's rate, none handed out twice."""
    engines = [make_engine(pg_url) for _ in range(8)]
    try:
        workers = [ratelimit.DatabaseBuckets(make_session_factory(e)) for e in engines]
        with ThreadPoolExecutor(max_workers=8) as pool:
            waits = list(
                pool.map(
                    lambda b: [b.reserve("crm", per_second=2, now=NOW) for _ in range(3)], workers
                )
            )
    finally:
        for engine in engines:
            engine.dispose()
    flat = sorted(w for per_worker in waits for w in per_worker)
    # 24 requests at 2/s with a bucket of 2: two at once, then one every half second
    assert flat == pytest.approx([0, 0] + [0.5 * n for n in range(1, 23)])
    with make_session_factory(pg_engine)() as session:
        assert session.get(OutboxRateBucket, "crm").next_slot == pytest.approx(NOW + 12)


def test_redis_buckets_share_the_rate_across_clients(redis_url, session_factory):
    provider = f"crm-{uuid.uuid4().hex[:8]}"
    (one, client), (two, _) = (
        redis_buckets(redis_url, session_factory),
        redis_buckets(redis_url, session_factory),
    )
    try:
        waits = [b.reserve(provider, per_second=2, now=NOW) for b in (one, two, one, two, one)]
        assert waits == pytest.approx([0, 0, 0.5, 1.0, 1.5])
        assert client.pttl(ratelimit.REDIS_PREFIX + provider) > 0  # the key expires when idle
    finally:
        client.delete(ratelimit.REDIS_PREFIX + provider)


def test_an_unreachable_redis_falls_back_to_the_database(session_factory):
    import redis

    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    buckets = ratelimit.RedisBuckets(dead, fallback=ratelimit.DatabaseBuckets(session_factory))
    assert [buckets.reserve("crm", per_second=1, now=NOW) for _ in range(2)] == [0, 1.0]
    with session_factory() as session:
        assert session.get(OutboxRateBucket, "crm") is not None


def test_buckets_for_picks_redis_with_redis_url(redis_url, session_factory, db_url):
    with_redis = load_settings({"DATABASE_URL": db_url, "REDIS_URL": redis_url}, dotenv=False)
    without = load_settings({"DATABASE_URL": db_url}, dotenv=False)
    assert isinstance(ratelimit.buckets_for(with_redis, session_factory), ratelimit.RedisBuckets)
    assert isinstance(ratelimit.buckets_for(without, session_factory), ratelimit.DatabaseBuckets)


def test_rate_settings_are_per_provider_and_bad_values_are_refused(db_url):
    settings = load_settings(
        {"DATABASE_URL": db_url, "OUTBOX_RATE_TWILIO_PER_SECOND": "3"}, dotenv=False
    )
    assert settings.outbox_rate_per_second("twilio") == 3
    assert settings.outbox_rate_per_second("crm") == 9  # HubSpot's 100 per 10 s, with room
    assert settings.outbox_rate_per_second("test") == 0  # no setting: no limit
    with pytest.raises(ConfigError, match="OUTBOX_RATE_EMAIL_PER_SECOND must be 0 or more"):
        load_settings({"DATABASE_URL": db_url, "OUTBOX_RATE_EMAIL_PER_SECOND": "-1"}, dotenv=False)
    with pytest.raises(ConfigError, match="OUTBOX_RATE_CRM_PER_SECOND must be a whole number"):
        load_settings({"DATABASE_URL": db_url, "OUTBOX_RATE_CRM_PER_SECOND": "fast"}, dotenv=False)


def test_delivery_waits_for_the_providers_slot_before_each_call(factory, db_url, monkeypatch):
    """Five rows of a provider limited to 2/s: two go at once, then one per half second."""
    settings = load_settings(
        {"DATABASE_URL": db_url, "OUTBOX_RATE_EMAIL_PER_SECOND": "2"}, dotenv=False
    )
    slept: list[float] = []
    monkeypatch.setattr(ratelimit, "_clock", lambda: NOW)
    monkeypatch.setattr(ratelimit, "_sleep", slept.append)
    calls: list[int] = []
    outbox.register("rl_test", lambda s, message, st: calls.append(message.id) or "ok",
                    provider="email")  # fmt: skip
    try:
        with session_scope(factory) as session:
            for n in range(5):
                outbox.enqueue(session, kind="rl_test", topic="t", payload={},
                               idempotency_key=f"rl-{uuid.uuid4()}-{n}")  # fmt: skip
        counts = outbox.deliver_due(factory, settings, worker_id="w", kinds=["rl_test"])
    finally:
        outbox._DELIVERERS.pop("rl_test")
        outbox._PROVIDERS.pop("rl_test")
    assert counts["sent"] == 5 and len(calls) == 5
    assert slept == pytest.approx([0.5, 1.0, 1.5])
