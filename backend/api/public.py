"""Public pages: the shop with the chat widget, the privacy policy, health, and the staff
replies a web chat window receives (pushed as Server-Sent Events, or fetched)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.api.deps import MAX_ROW_ID, public_quota, session_dep, settings_dep
from backend.catalog.models import Product
from backend.chat_ids import issue_chat_id, verify_chat_id
from backend.config import Settings
from backend.db import session_scope
from backend.health import check_all
from backend.sales import inbox

templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
router = APIRouter()


@router.get("/health")
def health(request: Request, settings: Settings = Depends(settings_dep)) -> JSONResponse:
    engine = request.app.state.session_factory.kw["bind"]
    report = check_all(settings=settings, engine=engine)
    return JSONResponse(report, status_code=503 if report["status"] == "down" else 200)


@router.get("/", response_class=HTMLResponse)
def shop(
    request: Request,
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    products = (
        session.execute(
            select(Product).where(Product.active.is_(True)).order_by(Product.category, Product.name)
        )
        .scalars()
        .all()
    )
    return templates.TemplateResponse(
        request,
        "shop.html",
        {"products": products, "settings": settings, "rasa_url": settings.rasa_url},
    )


@router.get("/privacy", response_class=HTMLResponse)
def privacy(request: Request, settings: Settings = Depends(settings_dep)):
    return templates.TemplateResponse(request, "privacy.html", {"settings": settings})


@router.post("/chat/session", dependencies=[public_quota])
def chat_session(settings: Settings = Depends(settings_dep)) -> JSONResponse:
    """A new website chat id and its token (the widget asks once and keeps both): the chat
    channels and the replies below accept only ids issued here."""
    if not settings.chat_id_secret:
        return JSONResponse({"error": "the website chat is not configured"}, status_code=503)
    chat = issue_chat_id(secret=settings.chat_id_secret)
    return JSONResponse(
        {"sender": chat.sender, "token": chat.token}, headers={"Cache-Control": "no-store"}
    )


@router.get("/chat/{conversation_id}/replies", dependencies=[public_quota])
def chat_replies(
    conversation_id: str,
    after: int = Query(0, le=MAX_ROW_ID),
    x_chat_token: str = Header(default=""),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
) -> JSONResponse:
    """Staff replies for one web chat window, newer than `after` (the widget asks every few
    seconds while its chat is with the team). Only the browser holding the chat's token
    (X-Chat-Token, from POST /chat/session) reads them; anything else gets 404 and nothing
    about whether the chat exists."""
    if not verify_chat_id(conversation_id, x_chat_token, secret=settings.chat_id_secret) or (
        after < 0
    ):
        return JSONResponse({"message": "no such chat"}, status_code=404)
    replies, with_team = inbox.chat_replies(session, conversation_id=conversation_id, after=after)
    return JSONResponse(
        {"replies": [_shown(r) for r in replies], "with_team": with_team},
        headers={"Cache-Control": "no-store"},
    )


def _shown(reply) -> dict:
    event = inbox.reply_event(reply)
    return {key: event[key] for key in ("id", "text", "from", "at")}


SSE_LIFETIME = 300.0  # seconds; then the browser's EventSource reconnects (Last-Event-ID)
SSE_HEARTBEAT = 15.0  # a comment line, so proxies keep the connection open
SSE_RETRY_MS = 3000


@router.get("/chat/{conversation_id}/events", dependencies=[public_quota])
def chat_events(
    conversation_id: str,
    request: Request,
    token: str = Query("", max_length=512),
    after: int = Query(0, ge=0, le=MAX_ROW_ID),
    last_event_id: str = Header(default="", max_length=20),
    settings: Settings = Depends(settings_dep),
):
    """Staff replies for one web chat window as Server-Sent Events, as they are written.

    EventSource cannot send headers, so the chat token comes as `?token=` (the same token as
    X-Chat-Token; a wrong one gets 404 and nothing about the chat). First what the window has not
    seen (after `after` or the Last-Event-ID of a reconnect), then each reply pushed by the chat
    feed (Redis pub/sub with REDIS_URL, else this process), `{"type": "handback"}` when the team
    hands the chat back, a heartbeat comment every 15 s; the stream ends after 5 minutes and the
    browser reconnects.
    """
    if not verify_chat_id(conversation_id, token, secret=settings.chat_id_secret):
        return JSONResponse({"message": "no such chat"}, status_code=404)
    if last_event_id.isdigit():
        after = max(after, min(int(last_event_id), MAX_ROW_ID))
    stream = _events(request.app.state, conversation_id, after)
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _backlog(session_factory, conversation_id: str, after: int) -> tuple[list[dict], bool]:
    with session_scope(session_factory) as session:
        replies, with_team = inbox.chat_replies(
            session, conversation_id=conversation_id, after=after
        )
        return [inbox.reply_event(r) for r in replies], with_team


def _mark_shown(session_factory, conversation_id: str, reply_id: int) -> None:
    with session_scope(session_factory) as session:
        inbox.mark_shown(session, conversation_id=conversation_id, reply_id=reply_id)


def _sse(message: dict) -> str:
    event_id = f"id: {message['id']}\n" if message.get("type") == "reply" else ""
    return f"{event_id}data: {json.dumps(message)}\n\n"


async def _events(state, conversation_id: str, after: int):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SSE_LIFETIME
    # subscribe first, then read what is stored: a reply committed in between is not lost
    async with state.chat_feed.subscribe(conversation_id) as subscription:
        backlog, with_team = await asyncio.to_thread(
            _backlog, state.session_factory, conversation_id, after
        )
        yield f"retry: {SSE_RETRY_MS}\n"
        yield _sse({"type": "state", "with_team": with_team})
        last = after
        for message in backlog:
            last = message["id"]
            yield _sse(message)
        while (left := deadline - loop.time()) > 0:
            message = await subscription.get(min(SSE_HEARTBEAT, left))
            if message is None:
                yield ": keep-alive\n\n"
            elif message.get("type") != "reply":
                yield _sse(message)
            elif message.get("id", 0) > last:
                last = message["id"]
                yield _sse(message)
                await asyncio.to_thread(
                    _mark_shown, state.session_factory, conversation_id, message["id"]
                )
