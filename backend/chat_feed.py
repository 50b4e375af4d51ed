"""Push to website chat windows: what the team writes reaches the widget as it happens.

A feed carries small JSON events per website chat id (`{"type": "reply", "id", "text", "from",
"at"}`, `{"type": "handback"}`); the backend's Server-Sent Events route
(GET /chat/<id>/events, backend/api/public.py) streams them to the browser holding the chat's
token. Two implementations, chosen by settings in backend/bootstrap.py:

* `RedisFeed` (REDIS_URL set): Redis pub/sub on `hts:chat:<id>`, so a reply stored by one API
  worker or machine reaches a window connected to another;
* `LocalFeed` (no Redis): in this process only (one API worker, tests, the demo).

Events are published only once their cause is committed (`publish_after_commit`): a window never
shows a reply that was rolled back. Delivery is best effort: the stored rows stay the truth, the
SSE route first sends what the window has not seen, and the widget falls back to polling.
"""

from __future__ import annotations

import abc
import asyncio
import json
import logging
import threading

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "hts:chat:"
PENDING = "chat_feed_pending"  # session.info key: events waiting for the commit
QUEUE_SIZE = 100  # per connected window; a window that lags further loses the extra (it polls)


class Subscription(abc.ABC):
    """One window's view of one chat: `async with feed.subscribe(id) as sub: await sub.get()`.

    Subscribed when the `async with` is entered, so nothing published afterwards is missed."""

    async def __aenter__(self) -> Subscription:
        await self.open()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def get(self, timeout: float) -> dict | None:
        """The next event, or None when none came within `timeout` seconds."""


class ChatFeed(abc.ABC):
    @abc.abstractmethod
    def publish(self, conversation_id: str, message: dict) -> None:
        """Send one event to every window of this chat now (never raises)."""

    @abc.abstractmethod
    def subscribe(self, conversation_id: str) -> Subscription:
        """The events of this chat from the moment the subscription is opened."""


class LocalFeed(ChatFeed):
    """Subscribers in this process: an asyncio queue each, fed thread-safely (replies are
    stored by sync views running in the threadpool)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[_LocalSubscription]] = {}

    def publish(self, conversation_id: str, message: dict) -> None:
        with self._lock:
            targets = list(self._subscribers.get(conversation_id, ()))
        for target in targets:
            try:
                target.loop.call_soon_threadsafe(_offer, target.queue, message)
            except RuntimeError:  # its loop closed: the window is gone
                continue

    def subscribe(self, conversation_id: str) -> Subscription:
        return _LocalSubscription(self, conversation_id)


class _LocalSubscription(Subscription):
    def __init__(self, feed: LocalFeed, conversation_id: str) -> None:
        self.feed, self.conversation_id = feed, conversation_id
        self.queue: asyncio.Queue = asyncio.Queue(QUEUE_SIZE)
        self.loop: asyncio.AbstractEventLoop | None = None

    async def open(self) -> None:
        self.loop = asyncio.get_running_loop()
        with self.feed._lock:
            self.feed._subscribers.setdefault(self.conversation_id, set()).add(self)

    async def close(self) -> None:
        with self.feed._lock:
            mine = self.feed._subscribers.get(self.conversation_id, set())
            mine.discard(self)
            if not mine:
                self.feed._subscribers.pop(self.conversation_id, None)

    async def get(self, timeout: float) -> dict | None:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except asyncio.TimeoutError:
            return None


class RedisFeed(ChatFeed):
    """Redis pub/sub: every API worker and machine sees every chat's events."""

    def __init__(self, url: str) -> None:
        import redis

        self.url = url
        self._publisher = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def publish(self, conversation_id: str, message: dict) -> None:
        try:
            self._publisher.publish(CHANNEL_PREFIX + conversation_id, json.dumps(message))
        except Exception:  # noqa: BLE001 - the reply is stored; the window polls or reconnects
            log.warning("chat push failed", extra={"kind": message.get("type")})

    def subscribe(self, conversation_id: str) -> Subscription:
        return _RedisSubscription(self.url, CHANNEL_PREFIX + conversation_id)


class _RedisSubscription(Subscription):
    def __init__(self, url: str, channel: str) -> None:
        self.url, self.channel = url, channel
        self.client = self.pubsub = None

    async def open(self) -> None:
        from redis import asyncio as aioredis

        self.client = aioredis.Redis.from_url(self.url)
        self.pubsub = self.client.pubsub()
        await self.pubsub.subscribe(self.channel)

    async def close(self) -> None:
        if self.pubsub is not None:
            await self.pubsub.unsubscribe()
            await self.pubsub.close()
        if self.client is not None:
            await self.client.close()

    async def get(self, timeout: float) -> dict | None:
        deadline = asyncio.get_running_loop().time() + timeout
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
            if message is not None and message.get("type") == "message":
                return json.loads(message["data"])
        return None


def feed_for(settings) -> ChatFeed:
    """Redis pub/sub when REDIS_URL is set (several workers), else this process only."""
    return RedisFeed(settings.redis_url) if settings.redis_url else LocalFeed()


def _offer(queue: asyncio.Queue, message: dict) -> None:
    if not queue.full():
        queue.put_nowait(message)


def publish_after_commit(
    session: Session, *, feed: ChatFeed | None, conversation_id: str, message: dict
) -> None:
    """Publish when the session commits; dropped if it rolls back. No feed: nothing to do."""
    if feed is not None:
        session.connection()  # inside a transaction, so its rollback drops the event
        session.info.setdefault(PENDING, []).append((feed, conversation_id, message))


@event.listens_for(Session, "after_commit")
def _send_pending(session: Session) -> None:
    for feed, conversation_id, message in session.info.pop(PENDING, []):
        feed.publish(conversation_id, message)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction) -> None:
    session.info.pop(PENDING, None)
