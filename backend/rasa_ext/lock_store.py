"""Rasa's Redis lock store with each step done by one atomic script.

`rasa run` with several Sanic workers needs a shared lock so that two messages of one
conversation are not handled at once. Rasa's `RedisLockStore` keeps each conversation's ticket
queue as JSON under one key and changes it by GET, edit in Python, SET: seven round trips for an
uncontended message (issue: GET+SET; acquire: GET; clean up: GET+SET, GET, DEL), each blocking
the worker's event loop, and two workers changing one queue can overwrite each other's ticket.
Under load that was ~11 % of a Rasa worker (py-spy).

`AtomicRedisLockStore` keeps the same key and JSON (a plain `RedisLockStore` reads and writes
the same queues) and does each change as one Lua script inside Redis:

* issue: drop expired tickets, append the next ticket, save, and answer whether it is first;
* clean up: remove the ticket, delete the key when the queue is empty;
* refresh (only while waiting): drop expired tickets and renew the waiter's own ticket.

A waiting message renews its own ticket at every poll: it is alive, so only a dead holder's
ticket expires. (Rasa's store lets the waiter's ticket expire too: a message that arrived within
one poll of a ticket whose holder was killed expired with it and failed with `LockError`,
found by tests/scale when one `rasa run` instance of two was killed under load.)

An uncontended message costs two round trips. A message that must wait polls as Rasa's does
(`wait_time_in_seconds`) and gets Rasa's `LockError` when its ticket expired.
endpoints.yml selects it when REDIS_URL is set (backend/supervisor.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore

# KEYS[1] = the conversation's lock key.
# ARGV = operation ("issue" | "cleanup" | "refresh"), conversation id, now (s), then: issue:
# lifetime (s); cleanup: ticket number; refresh: the waiter's ticket number (-1: none) and
# lifetime (s). Tickets are stored as Rasa stores them: a list of JSON strings.
_SCRIPT = """
local op, conversation_id, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local raw = redis.call('GET', KEYS[1])
local kept = {}
if raw then
  for _, encoded in ipairs(cjson.decode(raw)['tickets'] or {}) do
    local ticket = cjson.decode(encoded)
    local expires = tonumber(ticket['expires'])
    local keep
    if op == 'cleanup' then
      keep = ticket['number'] ~= tonumber(ARGV[4])
    else
      if op == 'refresh' and ticket['number'] == tonumber(ARGV[4]) and expires >= now then
        expires = now + tonumber(ARGV[5])  -- a live waiter keeps its place
      end
      keep = expires >= now
    end
    if keep then table.insert(kept, {ticket['number'], expires}) end
  end
end
local number = -1
if op == 'issue' then
  number = 0
  if #kept > 0 then number = kept[#kept][1] + 1 end
  table.insert(kept, {number, now + tonumber(ARGV[4])})
end
if #kept == 0 then
  redis.call('DEL', KEYS[1])
  return {number, -1, false}
end
local tickets = {}
for i, t in ipairs(kept) do
  tickets[i] = cjson.encode({number = t[1], expires = t[2]})
end
local lock = cjson.encode({conversation_id = conversation_id, tickets = tickets})
redis.call('SET', KEYS[1], lock)
return {number, kept[1][1], lock}
"""


class AtomicRedisLockStore(RedisLockStore):
    """`RedisLockStore` whose issue, clean-up and refresh are single atomic scripts."""

    def __init__(self, endpoint_config: Any = None, **kwargs: Any) -> None:
        if endpoint_config is not None:  # as Rasa builds a lock store named by module path
            kwargs = {"host": endpoint_config.url, **endpoint_config.kwargs, **kwargs}
        kwargs = {k: v for k, v in kwargs.items() if v not in ("", None)}  # unset ${VAR}s
        super().__init__(**kwargs)
        self._script = self.red.register_script(_SCRIPT)

    def _run(self, op: str, conversation_id: str, *args: float) -> tuple[int, int, str | None]:
        number, first, lock = self._script(
            keys=[self.key_prefix + conversation_id],
            args=[op, conversation_id, repr(time.time()), *map(repr, args)],
        )
        return int(number), int(first), lock.decode() if lock else None

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        try:
            return self._run("issue", conversation_id, lock_lifetime)[0]
        except Exception as e:  # as Rasa reports it
            raise LockError(f"Error while acquiring lock. Error:\n{e}") from e

    def update_lock(self, conversation_id: str) -> None:
        self._run("refresh", conversation_id, -1, 0)  # Rasa's API: drop expired tickets only

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        self._run("cleanup", conversation_id, ticket_number)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        self.finish_serving(conversation_id, ticket_number)  # deletes the key when empty

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = 1,
    ) -> AsyncIterator[TicketLock]:
        try:
            ticket, first, raw = self._run("issue", conversation_id, lock_lifetime)
        except Exception as e:
            raise LockError(f"Error while acquiring lock. Error:\n{e}") from e
        try:
            if ticket == first and raw is not None:
                yield TicketLock.from_dict(json.loads(raw))
            else:  # someone else's message of this conversation first: wait for our turn
                yield await self._wait_for_turn(
                    conversation_id, ticket, wait_time_in_seconds, lock_lifetime
                )
        finally:
            self.cleanup(conversation_id, ticket)

    async def _wait_for_turn(
        self, conversation_id: str, ticket: int, wait_time_in_seconds: float, lifetime: float
    ) -> TicketLock:
        """Poll as Rasa does, renewing this ticket at each poll; Rasa's `LockError` when the
        queue vanished (e.g. Redis restarted) or this ticket is gone."""
        while True:
            await asyncio.sleep(wait_time_in_seconds)
            _, first, raw = self._run("refresh", conversation_id, ticket, lifetime)
            lock = TicketLock.from_dict(json.loads(raw)) if raw else None
            if lock is None or ticket not in {t.number for t in lock.tickets}:
                raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")
            if first == ticket:
                return lock
