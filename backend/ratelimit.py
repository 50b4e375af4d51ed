"""Fixed-window request quotas per client: 429 with Retry-After at every public edge.

One `RateLimiter` per quota (e.g. chat messages per IP); its counts live in a store shared by
every limiter on the same backend: Redis (`INCR` + `EXPIRE`, shared by every worker and
machine) when REDIS_URL is set, else this process's memory (bounded). A Redis failure lets the
request through (logged): the quota protects the service, it must not become the outage.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from backend.config import Settings

log = logging.getLogger(__name__)

MEMORY_MAX_KEYS = 100_000  # oldest windows are dropped first beyond this
REDIS_TIMEOUT_SECONDS = 0.5


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0  # whole seconds until the window resets (when refused)


class CounterStore(Protocol):
    def incr(self, key: str, *, window: int) -> tuple[int, float]:
        """Add one to `key`'s count in the current window; (count, seconds left in window)."""


class MemoryStore:
    """Counts in this process; fine for one worker (tests, the default stack)."""

    def __init__(self, *, clock=time.monotonic, max_keys: int = MEMORY_MAX_KEYS):
        self._clock = clock
        self._max_keys = max_keys
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def incr(self, key: str, *, window: int) -> tuple[int, float]:
        now = self._clock()
        with self._lock:
            ends, count = self._windows.get(key, (0.0, 0))
            if now >= ends:
                ends, count = now + window, 0
            count += 1
            self._windows[key] = (ends, count)
            self._windows.move_to_end(key)
            while len(self._windows) > self._max_keys:
                self._windows.popitem(last=False)
        return count, ends - now


class RedisStore:
    """Counts in Redis, shared by every process that uses the same Redis database."""

    def __init__(self, client, *, prefix: str = "hts:rl:"):
        self._client = client
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        import redis

        return cls(
            redis.Redis.from_url(
                url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
        )

    def incr(self, key: str, *, window: int) -> tuple[int, float]:
        name = self._prefix + key
        pipe = self._client.pipeline()  # MULTI/EXEC: the three run as one
        pipe.set(name, 0, ex=window, nx=True)  # the first hit of a window starts its clock
        pipe.incr(name)
        pipe.pttl(name)
        _, count, ttl_ms = pipe.execute()
        return int(count), max(ttl_ms, 0) / 1000


class RateLimiter:
    """At most `limit` requests per key within `window` seconds."""

    def __init__(self, *, name: str, limit: int, window: int, store: CounterStore):
        self.name, self.limit, self.window, self.store = name, limit, window, store

    def hit(self, key: str) -> Decision:
        try:
            count, left = self.store.incr(f"{self.name}:{key}", window=self.window)
        except Exception as exc:  # noqa: BLE001 - any store failure: let the request through
            log.warning("rate limit store failed", extra={"limiter": self.name, "error": str(exc)})
            return Decision(allowed=True)
        if count <= self.limit:
            return Decision(allowed=True)
        log.info("rate limited", extra={"limiter": self.name})
        return Decision(allowed=False, retry_after=max(1, math.ceil(left)))


def make_store(settings: Settings) -> CounterStore:
    """Redis when REDIS_URL is set, else this process's memory."""
    return RedisStore.from_url(settings.redis_url) if settings.redis_url else MemoryStore()


@dataclass(frozen=True)
class Limits:
    """The quotas of one process, built from settings around one store."""

    chat_ip: RateLimiter
    chat_sender: RateLimiter
    public_ip: RateLimiter
    webhook_ip: RateLimiter

    @classmethod
    def from_settings(cls, settings: Settings, store: CounterStore | None = None) -> Limits:
        store = store if store is not None else make_store(settings)
        window = settings.rate_limit_window_seconds

        def limiter(name: str, limit: int) -> RateLimiter:
            return RateLimiter(name=name, limit=limit, window=window, store=store)

        return cls(
            chat_ip=limiter("chat-ip", settings.rate_limit_chat_per_ip),
            chat_sender=limiter("chat-sender", settings.rate_limit_chat_per_sender),
            public_ip=limiter("public-ip", settings.rate_limit_public_per_ip),
            webhook_ip=limiter("webhook-ip", settings.rate_limit_webhook_per_ip),
        )


def first_refusal(*checks: tuple[RateLimiter, str]) -> Decision:
    """Count the request against every (limiter, key); the first refusal, else allowed."""
    refused = [d for d in (limiter.hit(key) for limiter, key in checks) if not d.allowed]
    return refused[0] if refused else Decision(allowed=True)
