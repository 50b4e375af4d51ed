"""Fixed-window quotas: the N+1st request in a window is refused with a retry delay, other keys
are unaffected, windows reset, and the Redis store shares counts between limiters."""

from __future__ import annotations

import uuid

import redis

from backend.ratelimit import MemoryStore, RateLimiter, RedisStore, first_refusal


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_n_plus_first_request_is_refused_until_the_window_ends():
    clock = Clock()
    limiter = RateLimiter(name="t", limit=3, window=60, store=MemoryStore(clock=clock))
    assert [limiter.hit("1.2.3.4").allowed for _ in range(4)] == [True, True, True, False]
    clock.now += 20
    refused = limiter.hit("1.2.3.4")
    assert not refused.allowed and refused.retry_after == 40
    assert limiter.hit("5.6.7.8").allowed  # another client is unaffected
    clock.now += 40
    assert limiter.hit("1.2.3.4").allowed  # a new window


def test_memory_store_stays_bounded():
    store = MemoryStore(max_keys=100)
    limiter = RateLimiter(name="t", limit=1, window=60, store=store)
    for n in range(1000):
        limiter.hit(f"10.0.{n // 256}.{n % 256}")
    assert len(store._windows) == 100


def test_first_refusal_counts_every_quota():
    store = MemoryStore()
    per_ip = RateLimiter(name="ip", limit=5, window=60, store=store)
    per_chat = RateLimiter(name="chat", limit=1, window=60, store=store)
    assert first_refusal((per_ip, "a"), (per_chat, "x")).allowed
    assert not first_refusal((per_ip, "a"), (per_chat, "x")).allowed
    assert first_refusal((per_ip, "a"), (per_chat, "y")).allowed  # same IP, other chat


class BrokenStore:
    def incr(self, key, *, window):
        raise redis.ConnectionError("down")


def test_a_failing_store_lets_requests_through():
    assert RateLimiter(name="t", limit=0, window=60, store=BrokenStore()).hit("a").allowed


def test_redis_store_shares_counts_between_limiters_of_different_processes(redis_url):
    prefix = f"hts:test:{uuid.uuid4().hex}:"
    client = redis.Redis.from_url(redis_url)
    # Two limiters with their own connections, as two workers would have.
    first = RateLimiter(
        name="ip",
        limit=3,
        window=60,
        store=RedisStore(redis.Redis.from_url(redis_url), prefix=prefix),
    )
    second = RateLimiter(
        name="ip",
        limit=3,
        window=60,
        store=RedisStore(redis.Redis.from_url(redis_url), prefix=prefix),
    )
    try:
        assert [first.hit("1.2.3.4").allowed, second.hit("1.2.3.4").allowed] == [True, True]
        assert first.hit("1.2.3.4").allowed
        refused = second.hit("1.2.3.4")
        assert not refused.allowed and 1 <= refused.retry_after <= 60
        assert second.hit("5.6.7.8").allowed
        assert 0 < client.ttl(f"{prefix}ip:1.2.3.4") <= 60  # the window expires on its own
    finally:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
