"""Staff replies pushed to the website chat window: the chat feeds (in-process and Redis
pub/sub), publish-after-commit, and the Server-Sent Events route served by a real uvicorn on
127.0.0.1 (a test client cannot stream an open-ended response)."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
import requests
import uvicorn
from sqlalchemy import select

from backend import chat_feed
from backend.api.app import create_app
from backend.auth.models import StaffUser
from backend.chat_ids import issue_chat_id
from backend.db import session_scope
from backend.sales import inbox
from backend.sales.service import request_handoff
from backend.sales.transcript import conversation
from tests.helpers import free_port
from tests.integration.messaging_support import make_settings
from tests.integration.test_dashboard import make_keys

SECRET = "chat-id-secret-for-push-tests-0123"


@pytest.fixture(params=["local", "redis"])
def feed_settings(request, db_url):
    extra = {"CHAT_ID_SECRET": SECRET}
    if request.param == "redis":
        extra["REDIS_URL"] = request.getfixturevalue("redis_url")
    return make_settings(db_url, **extra)


# --- the feeds ---------------------------------------------------------------------------------


async def test_a_feed_delivers_what_is_published_after_subscribing(feed_settings):
    feed = chat_feed.feed_for(feed_settings)
    feed.publish("web-a", {"type": "reply", "id": 1})  # before anyone listens: not kept
    async with feed.subscribe("web-a") as mine, feed.subscribe("web-b") as other:
        await asyncio.to_thread(feed.publish, "web-a", {"type": "reply", "id": 2})
        assert await mine.get(5) == {"type": "reply", "id": 2}
        assert await other.get(0.3) is None  # another chat's window hears nothing
        assert await mine.get(0.3) is None


async def test_events_are_published_only_when_their_cause_commits(session_factory):
    feed = chat_feed.LocalFeed()
    async with feed.subscribe("web-a") as mine:
        with session_factory() as s:
            chat_feed.publish_after_commit(
                s, feed=feed, conversation_id="web-a", message={"type": "reply", "id": 1}
            )
            s.rollback()
            s.commit()  # a later commit does not resurrect a rolled-back event
        assert await mine.get(0.3) is None
        with session_scope(session_factory) as s:
            chat_feed.publish_after_commit(
                s, feed=feed, conversation_id="web-a", message={"type": "reply", "id": 2}
            )
        assert await mine.get(5) == {"type": "reply", "id": 2}


# --- the SSE route -----------------------------------------------------------------------------


@pytest.fixture
def served(feed_settings, session_factory):
    """The backend app on a free loopback port, in this process (so the test shares its feed)."""
    app = create_app(feed_settings, session_factory)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="none"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app
    server.should_exit = server.force_exit = True
    thread.join(10)


def _sse_events(response):
    """Parsed `data:` events of an open SSE response, as they arrive."""
    for line in response.iter_lines(chunk_size=1, decode_unicode=True):
        if line.startswith("data: "):
            yield json.loads(line[len("data: ") :])


def _web_lead(session_factory, sender: str) -> tuple[int, StaffUser]:
    make_keys(session_factory)
    with session_scope(session_factory) as s:
        lead = request_handoff(s, sender_id=sender, reason="asked")
        agent = s.execute(select(StaffUser).where(StaffUser.role == "sales")).scalar_one()
        return lead.id, agent.id


def test_sse_delivers_a_staff_reply_written_after_connecting(served, session_factory):
    base, app = served
    chat = issue_chat_id(secret=SECRET)
    lead_id, agent_id = _web_lead(session_factory, chat.sender)
    url = f"{base}/chat/{chat.sender}/events"
    refused = requests.get(url, params={"token": "not-the-token"}, timeout=10)
    assert refused.status_code == 404
    with requests.get(url, params={"token": chat.token}, stream=True, timeout=15) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _sse_events(response)
        assert next(events) == {"type": "state", "with_team": True}
        with session_scope(session_factory) as s:
            inbox.reply(
                s, settings=app.state.settings, lead_id=lead_id, actor=s.get(StaffUser, agent_id),
                text="Hi, this is Sam from the team", channel="chat", feed=app.state.chat_feed,
            )  # fmt: skip
        reply = next(events)
        assert (reply["type"], reply["text"], reply["from"]) == (
            "reply", "Hi, this is Sam from the team", "Our team",
        )  # fmt: skip
        with session_scope(session_factory) as s:
            inbox.hand_back(
                s, lead_id=lead_id, actor=s.get(StaffUser, agent_id), feed=app.state.chat_feed,
            )  # fmt: skip
        assert next(events) == {"type": "handback"}
    with session_scope(session_factory) as s:  # the team sees it was shown ("seen")
        [team] = [m for m in conversation(s, conversation_id=chat.sender) if m["who"] == "team"]
        assert team["seen"] is not None
    # a reconnect (Last-Event-ID) gets only what came after the last reply it saw
    with requests.get(
        url,
        params={"token": chat.token},
        headers={"Last-Event-ID": str(reply["id"])},
        stream=True,
        timeout=15,
    ) as again:
        events = _sse_events(again)
        assert next(events)["type"] == "state"
    with requests.get(url, params={"token": chat.token}, stream=True, timeout=15) as fresh:
        events = _sse_events(fresh)
        next(events)
        assert next(events)["id"] == reply["id"]  # a window that saw nothing gets the backlog
