"""Public pages: the shop with the chat widget, the privacy policy, health, and the staff
replies a web chat window fetches."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.api.deps import MAX_ROW_ID, public_quota, session_dep, settings_dep
from backend.catalog.models import Product
from backend.chat_ids import issue_chat_id, verify_chat_id
from backend.config import Settings
from backend.dashboard.service import iso
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
        {
            "replies": [
                {"id": r.id, "text": r.body, "from": "Our team", "at": iso(r.created_at)}
                for r in replies
            ],
            "with_team": with_team,
        },
        headers={"Cache-Control": "no-store"},
    )
