"""backend.rasa_ext.lock_store on a real Redis: Rasa's ticket queue, two round trips, atomic."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlsplit

import pytest
from rasa.core.lock_store import LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

from backend.rasa_ext.lock_store import AtomicRedisLockStore

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def redis_params(redis_url):
    url = redis_url
    r = urlsplit(url)
    return {"host": r.hostname, "port": r.port or 6379, "db": r.path.lstrip("/") or "0"}


@pytest.fixture
def stores(redis_params):
    """An atomic store and Rasa's own store on one fresh key prefix."""
    prefix = "t" + uuid.uuid4().hex[:12]
    atomic = AtomicRedisLockStore(
        endpoint_config=EndpointConfig(
            url=redis_params["host"],
            type="backend.rasa_ext.lock_store.AtomicRedisLockStore",
            port=str(redis_params["port"]),
            db=redis_params["db"],
            password="",  # an unset ${LOCK_REDIS_PASSWORD}
            key_prefix=prefix,
        )
    )
    plain = RedisLockStore(**redis_params, key_prefix=prefix)
    yield atomic, plain
    for key in atomic.red.scan_iter(f"{prefix}:*"):
        atomic.red.delete(key)


def count_commands(store: AtomicRedisLockStore) -> list[str]:
    sent: list[str] = []
    original = store.red.execute_command

    def execute_command(*args, **kwargs):
        sent.append(str(args[0]))
        return original(*args, **kwargs)

    store.red.execute_command = execute_command
    return sent


async def test_an_uncontended_message_costs_two_round_trips_and_leaves_no_key(stores):
    atomic, plain = stores
    atomic.issue_ticket("warm")  # loads the script once (SCRIPT LOAD on first use)
    atomic.cleanup("warm", 0)
    sent = count_commands(atomic)
    async with atomic.lock("c1") as lock:
        # Inside: Rasa's own store reads the same queue with this message's ticket first.
        seen = plain.get_lock("c1")
        assert [t.number for t in seen.tickets] == [0] and not seen.is_locked(0)
        assert lock.conversation_id == "c1" and lock.now_serving == 0
    assert sent == ["EVALSHA", "EVALSHA"]
    assert plain.get_lock("c1") is None


async def test_a_second_message_waits_for_the_first(stores):
    atomic, _ = stores
    order: list[str] = []

    async def handle(name: str, hold: float) -> None:
        async with atomic.lock("c2", wait_time_in_seconds=0.02):
            order.append(f"{name} in")
            await asyncio.sleep(hold)
            order.append(f"{name} out")

    first = asyncio.create_task(handle("first", 0.15))
    await asyncio.sleep(0.03)  # the first holds the lock
    await asyncio.gather(first, handle("second", 0))
    assert order == ["first in", "first out", "second in", "second out"]
    assert atomic.get_lock("c2") is None


async def test_tickets_from_rasas_own_store_queue_in_the_same_line(stores):
    atomic, plain = stores
    held = plain.issue_ticket("c3")  # another process running plain Rasa holds the lock
    assert held == 0
    assert atomic.issue_ticket("c3") == 1
    lock = plain.get_lock("c3")
    assert [t.number for t in lock.tickets] == [0, 1] and lock.is_locked(1)
    atomic.cleanup("c3", 0)
    assert not plain.get_lock("c3").is_locked(1)
    atomic.cleanup("c3", 1)
    assert plain.get_lock("c3") is None


async def test_an_expired_ticket_does_not_block_the_next_message(stores):
    atomic, plain = stores
    plain.issue_ticket("c4", lock_lifetime=-1)  # a worker died holding it long ago
    sent = count_commands(atomic)
    async with atomic.lock("c4") as lock:
        assert [t.number for t in lock.tickets] == [0]  # the dead ticket was dropped
    assert sent == ["EVALSHA", "EVALSHA"]


async def test_a_waiting_message_goes_ahead_when_the_holders_ticket_expires(stores):
    atomic, _ = stores
    atomic.issue_ticket("c5", lock_lifetime=0.2)  # its worker died while holding the lock
    async with atomic.lock("c5", wait_time_in_seconds=0.05) as lock:
        assert [t.number for t in lock.tickets] == [1]  # the dead ticket was dropped
    assert atomic.get_lock("c5") is None


async def test_a_waiting_message_gets_rasas_lock_error_when_the_queue_vanishes(stores):
    atomic, _ = stores
    atomic.issue_ticket("c8", lock_lifetime=60)
    waiting = asyncio.create_task(_enter(atomic, "c8"))
    await asyncio.sleep(0.05)
    atomic.red.delete(atomic.key_prefix + "c8")  # e.g. Redis restarted without persistence
    with pytest.raises(LockError, match="Could not acquire lock"):
        await waiting


async def _enter(store: AtomicRedisLockStore, conversation_id: str) -> None:
    async with store.lock(conversation_id, wait_time_in_seconds=0.05):
        pytest.fail("must not enter while another ticket is served")


async def test_many_concurrent_issuers_get_distinct_tickets(stores, redis_params):
    atomic, _ = stores
    others = [AtomicRedisLockStore(**redis_params, key_prefix=atomic.key_prefix.split(":")[0])]
    others.append(atomic)

    async def issue(store: AtomicRedisLockStore) -> int:
        return await asyncio.to_thread(store.issue_ticket, "c6")

    numbers = await asyncio.gather(*(issue(others[i % 2]) for i in range(40)))
    assert sorted(numbers) == list(range(40))  # none overwritten by a concurrent GET/SET


def test_an_unreachable_redis_is_a_lock_error_with_the_reason():
    store = AtomicRedisLockStore(host="127.0.0.1", port=1, socket_timeout=1)
    with pytest.raises(LockError, match="Error while acquiring lock"):
        store.issue_ticket("c7")


async def test_a_waiting_message_outlives_its_own_lifetime_behind_a_dead_holder(stores):
    # The holder's instance was killed mid-turn; the balancer resent the turn to another
    # instance within one poll. Rasa's store let the waiter's ticket expire in the same poll as
    # the dead one and answered LockError; the waiter renews its own ticket while it waits.
    atomic, _ = stores
    atomic.issue_ticket("c9", lock_lifetime=1.2)  # the dead holder
    # both tickets expire between the polls at 1.0 s and 1.5 s unless the waiter renews its own
    async with atomic.lock("c9", lock_lifetime=1.1, wait_time_in_seconds=0.5) as lock:
        assert [t.number for t in lock.tickets] == [1]  # served once the dead ticket expired
    assert atomic.get_lock("c9") is None
