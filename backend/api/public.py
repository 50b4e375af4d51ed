"""Public pages: the shop with the chat widget, the privacy policy, health."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.api.deps import session_dep, settings_dep
from backend.catalog.models import Product
from backend.config import Settings
from backend.health import check_all

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
