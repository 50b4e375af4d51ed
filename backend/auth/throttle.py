"""Login throttling: failures counted per account and per client address, shared by every
web worker (database rows, or Redis when REDIS_URL is set), checked before any password hash
is verified so a flood of guesses costs no argon2 time.

Backoff: below the limit every attempt is allowed; from the limit on, each further failure
doubles the wait after the last one (base 30 s), never longer than the counting window.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from backend.auth.models import LoginFailure
from backend.db import aware

SCOPES = ("account", "ip")


@dataclass(frozen=True)
class ThrottlePolicy:
    account_limit: int = 5
    ip_limit: int = 20
    window: timedelta = timedelta(minutes=15)
    base_delay: timedelta = timedelta(seconds=30)

    def limit(self, scope: str) -> int:
        return self.account_limit if scope == "account" else self.ip_limit


class ThrottleStore(ABC):
    """Where failures are counted; keys are already hashed."""

    @abstractmethod
    def recent(self, *, scope: str, key: str, since: datetime) -> tuple[int, datetime | None]:
        """(failures since `since`, time of the latest one)."""

    @abstractmethod
    def record(self, *, scope: str, key: str, at: datetime, window: timedelta) -> None: ...

    @abstractmethod
    def clear(self, *, scope: str, key: str) -> None: ...


class DatabaseThrottleStore(ThrottleStore):
    """Rows in login_failures, in the caller's transaction (the login request commits them)."""

    def __init__(self, session: Session):
        self.session = session

    def recent(self, *, scope: str, key: str, since: datetime) -> tuple[int, datetime | None]:
        count, latest = self.session.execute(
            select(func.count(LoginFailure.id), func.max(LoginFailure.created_at)).where(
                LoginFailure.scope == scope,
                LoginFailure.key == key,
                LoginFailure.created_at >= since,
            )
        ).one()
        return int(count or 0), aware(latest) if latest is not None else None

    def record(self, *, scope: str, key: str, at: datetime, window: timedelta) -> None:
        # Rows older than the window count for nobody: drop them as we go.
        self.session.execute(delete(LoginFailure).where(LoginFailure.created_at < at - window))
        self.session.add(LoginFailure(scope=scope, key=key, created_at=at))
        self.session.flush()

    def clear(self, *, scope: str, key: str) -> None:
        self.session.execute(
            delete(LoginFailure).where(LoginFailure.scope == scope, LoginFailure.key == key)
        )


class RedisThrottleStore(ThrottleStore):
    """One sorted set per key (score = failure time), expiring with the window."""

    def __init__(self, client, *, prefix: str = "hts:login"):
        self.client = client
        self.prefix = prefix

    def _name(self, scope: str, key: str) -> str:
        return f"{self.prefix}:{scope}:{key}"

    def recent(self, *, scope: str, key: str, since: datetime) -> tuple[int, datetime | None]:
        name = self._name(scope, key)
        pipe = self.client.pipeline()
        pipe.zremrangebyscore(name, "-inf", f"({since.timestamp()}")
        pipe.zcard(name)
        pipe.zrange(name, -1, -1, withscores=True)
        _, count, last = pipe.execute()
        latest = datetime.fromtimestamp(last[0][1], timezone.utc) if last else None
        return int(count), latest

    def record(self, *, scope: str, key: str, at: datetime, window: timedelta) -> None:
        name = self._name(scope, key)
        pipe = self.client.pipeline()
        pipe.zadd(name, {uuid.uuid4().hex: at.timestamp()})
        pipe.expire(name, int(window.total_seconds()) + 1)
        pipe.execute()

    def clear(self, *, scope: str, key: str) -> None:
        self.client.delete(self._name(scope, key))


def throttle_keys(*, email: str, client_ip: str) -> dict[str, str]:
    """Hashed keys per scope: the store never holds an email address or an IP address."""
    return {
        "account": _digest("account", email.strip().lower()),
        "ip": _digest("ip", client_ip or "unknown"),
    }


def retry_after(
    *, store: ThrottleStore, policy: ThrottlePolicy, keys: dict[str, str], now: datetime
) -> int:
    """Seconds the caller must wait before trying again; 0 when an attempt is allowed."""
    wait = 0.0
    for scope in SCOPES:
        count, latest = store.recent(scope=scope, key=keys[scope], since=now - policy.window)
        limit = policy.limit(scope)
        if count < limit or latest is None:
            continue
        delay = min(policy.base_delay * 2 ** min(count - limit, 30), policy.window)
        wait = max(wait, (latest + delay - now).total_seconds())
    return math.ceil(wait) if wait > 0 else 0


def record_failure(
    *, store: ThrottleStore, policy: ThrottlePolicy, keys: dict[str, str], now: datetime
) -> None:
    for scope in SCOPES:
        store.record(scope=scope, key=keys[scope], at=now, window=policy.window)


def record_success(*, store: ThrottleStore, keys: dict[str, str]) -> None:
    """A right password clears the account's count (not the address's: one known account
    must not reset a guessing client's budget for the others)."""
    store.clear(scope="account", key=keys["account"])


def _digest(scope: str, value: str) -> str:
    return hashlib.sha256(f"{scope}:{value}".encode()).hexdigest()
