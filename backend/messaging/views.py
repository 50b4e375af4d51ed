"""Unsubscribe links: GET shows a confirm page (link scanners must not unsubscribe anyone),
POST records the withdrawal (also the RFC 8058 one-click POST from mail clients)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from backend.api.deps import public_quota, session_dep, settings_dep
from backend.config import Settings
from backend.messaging import gate, service

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(
    directory=[str(HERE / "templates" / "pages"), str(HERE.parent / "api" / "templates")]
)
router = APIRouter()


def _page(request: Request, settings: Settings, *, status_code: int = 200, **values):
    return templates.TemplateResponse(
        request,
        "unsubscribe.html",
        {"settings": settings, "error": "", "done": False, **values},
        status_code=status_code,
    )


@router.get("/unsubscribe/{token}", response_class=HTMLResponse, dependencies=[public_quota])
def unsubscribe_page(token: str, request: Request, settings: Settings = Depends(settings_dep)):
    try:
        service.check_unsubscribe_token(settings, token)
    except gate.BadUnsubscribeToken as exc:
        return _page(request, settings, status_code=400, error=str(exc))
    return _page(request, settings)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse, dependencies=[public_quota])
def unsubscribe(
    token: str,
    request: Request,
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    try:
        service.unsubscribe(session, settings=settings, token=token)
    except gate.BadUnsubscribeToken as exc:
        return _page(request, settings, status_code=400, error=str(exc))
    return _page(request, settings, done=True)
