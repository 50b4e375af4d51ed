"""HTTP routes of the catalog area: the public, read-only product list."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.api.deps import session_dep, settings_dep
from backend.catalog import service
from backend.catalog.models import Product
from backend.config import Settings
from backend.money import format_minor

router = APIRouter()


def _summary(p: Product, settings: Settings) -> dict:
    return {
        "sku": p.sku,
        "name": p.name,
        "category": p.category,
        "price": format_minor(p.price_minor, p.currency),
        "price_minor": p.price_minor,
        "currency": p.currency,
        "stock_status": service.stock_status(p),
        "goals": list(p.goals or []),
        "image_url": service.image_url(p.image, base_url=settings.public_base_url),
    }


@router.get("/api/products")
def list_products(
    goal: str | None = None,
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    if goal is not None:
        if goal not in service.GOALS:
            return JSONResponse(
                {"error": f"unknown goal; expected one of {', '.join(service.GOALS)}"},
                status_code=400,
            )
        products = service.products_for_goal(session, goal=goal, limit=1000)
    else:
        products = session.execute(
            select(Product).where(Product.active.is_(True)).order_by(Product.category, Product.name)
        ).scalars()
    return {"products": [_summary(p, settings) for p in products]}


@router.get("/api/products/{sku}")
def get_product(
    sku: str,
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    product = service.get_by_sku(session, sku)
    if product is None or not product.active:
        return JSONResponse({"error": "no product with this sku"}, status_code=404)
    return {
        **_summary(product, settings),
        "description": product.description,
        "usage": product.usage,
        "ingredients": list(product.ingredients or []),
        "image": product.image,
        "is_supplement": product.is_supplement,
        "disclaimer": product.disclaimer,
    }
