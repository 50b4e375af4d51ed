"""Delivery rate per provider (OUTBOX_RATE_<PROVIDER>_PER_SECOND), shared by every worker.

A token bucket holding one second of tokens, kept as one number per provider: the time the
next request may go (GCRA). `reserve` takes the next slot and says how long the caller must
wait for it; a reservation is one atomic step, so any number of workers on any number of
machines together stay within the rate. The bucket lives in Redis when REDIS_URL is set (one
Lua script), else in the database (`outbox_rate_buckets`, one row locked for a moment). A Redis
failure falls back to the database: the limit still holds, only a little slower.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from backend.config import Settings
from backend.logging_setup import log_event
from backend.outbox.models import OutboxRateBucket

log = logging.getLogger("backend.outbox")

REDIS_PREFIX = "hts:outbox:rate:"
REDIS_TIMEOUT_SECONDS = 0.5


class Buckets(Protocol):
    def reserve(self, provider: str, *, per_second: int, now: float) -> float:
        """Take the provider's next slot; seconds to wait before using it (0: go now)."""


def _slot(next_slot: float, *, per_second: int, now: float) -> tuple[float, float]:
    """GCRA: (seconds to wait, the bucket's next slot after this request)."""
    interval = 1.0 / per_second
    start = max(next_slot, now)
    burst = (per_second - 1) * interval  # a full bucket: one second of requests at once
    return max(0.0, start - now - burst), start + interval


class DatabaseBuckets:
    """The bucket as a row per provider; `SELECT … FOR UPDATE` (SQLite: BEGIN IMMEDIATE)."""

    def __init__(self, factory: sessionmaker):
        self.factory = factory

    def reserve(self, provider: str, *, per_second: int, now: float) -> float:
        with self.factory() as session:
            bucket = self._locked(session, provider)
            wait, bucket.next_slot = _slot(bucket.next_slot, per_second=per_second, now=now)
            session.commit()
        return wait

    @staticmethod
    def _locked(session, provider: str) -> OutboxRateBucket:
        query = select(OutboxRateBucket).where(OutboxRateBucket.provider == provider)
        bucket = session.execute(query.with_for_update()).scalar_one_or_none()
        if bucket is not None:
            return bucket
        try:
            with session.begin_nested():  # two workers' first reservation at once: one row
                session.add(OutboxRateBucket(provider=provider, next_slot=0.0))
        except IntegrityError:
            pass
        return session.execute(query.with_for_update()).scalar_one()


# KEYS[1] the bucket; ARGV: interval, burst (seconds), now (Unix seconds). Returns the wait.
_RESERVE = """
local start = tonumber(redis.call('GET', KEYS[1]) or '0')
local interval, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if start < now then start = now end
local nxt = start + interval
redis.call('SET', KEYS[1], string.format('%.6f', nxt), 'PX', math.ceil((nxt - now) * 1000) + 1000)
local wait = start - now - burst
if wait < 0 then wait = 0 end
return string.format('%.6f', wait)
"""


class RedisBuckets:
    """The bucket as a Redis key per provider, updated by one Lua script (atomic)."""

    def __init__(self, client, *, fallback: Buckets):
        self.client = client
        self.fallback = fallback
        self._script = client.register_script(_RESERVE)

    def reserve(self, provider: str, *, per_second: int, now: float) -> float:
        import redis

        interval = 1.0 / per_second
        try:
            wait = self._script(
                keys=[REDIS_PREFIX + provider], args=[interval, (per_second - 1) * interval, now]
            )
        except redis.RedisError as exc:
            log_event(log, "rate bucket in Redis failed", logging.WARNING, error=type(exc).__name__)
            return self.fallback.reserve(provider, per_second=per_second, now=now)
        return float(wait)


_redis_clients: dict[str, object] = {}


def buckets_for(settings: Settings, factory: sessionmaker) -> Buckets:
    """Redis buckets with REDIS_URL (one client per process), else the database's."""
    database = DatabaseBuckets(factory)
    if not settings.redis_url:
        return database
    if settings.redis_url not in _redis_clients:
        import redis

        _redis_clients[settings.redis_url] = redis.Redis.from_url(
            settings.redis_url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
    return RedisBuckets(_redis_clients[settings.redis_url], fallback=database)


_clock, _sleep = time.time, time.sleep  # tests replace them: waits become exact numbers


def wait_for_slot(buckets: Buckets, settings: Settings, provider: str) -> float:
    """Block until `provider` may be called again (no-op without a limit); seconds waited."""
    per_second = settings.outbox_rate_per_second(provider)
    if per_second <= 0:
        return 0.0
    wait = buckets.reserve(provider, per_second=per_second, now=_clock())
    if wait > 0:
        _sleep(wait)
    return wait
