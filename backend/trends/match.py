"""Score the catalog against a piece of text or a stored trend, on demand (the admin API's
"what would this trend sell?"): the same scorer and explanations as the ingest job."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.catalog.models import Product
from backend.db import aware
from backend.trends.models import Trend
from backend.trends.normalize import tokens
from backend.trends.service import catalog_index

FULL_STRENGTH_VOLUME = 10_000  # free text is scored as a fresh trend at full volume


class UnknownTopic(LookupError):
    pass


def score_products(
    session: Session,
    *,
    text: str | None = None,
    topic: str | None = None,
    limit: int,
    now: datetime,
) -> dict:
    """Products matched best first, for free `text` (a fresh trend at full volume) or the
    stored trend with this `topic` (its snippet, volume and date); UnknownTopic if none."""
    if topic:
        trend = session.execute(
            select(Trend)
            .where(func.lower(Trend.topic) == topic.lower())
            .order_by(Trend.fetched_at.desc())
            .limit(1)
        ).scalar_one_or_none()
        if trend is None:
            raise UnknownTopic(topic)
        toks = tokens(f"{trend.topic} {trend.snippet or ''}")
        published = aware(trend.published_at or trend.fetched_at)
        volume, scored_as = trend.volume, "stored trend"
    else:
        toks = tokens(text or "")
        volume, published, scored_as = FULL_STRENGTH_VOLUME, now, "text as a fresh trend"
    matches = catalog_index(session).match(
        toks, volume=volume, published_at=published, now=now, limit=limit
    )
    products = {
        p.id: p
        for p in session.execute(
            select(Product).where(Product.id.in_([m.product_id for m in matches]))
        ).scalars()
    }
    return {
        "scored_as": scored_as,
        "terms": sorted(set(toks))[:50],
        "products": [
            {
                "sku": m.sku,
                "name": products[m.product_id].name,
                "score": round(m.score, 4),
                "confidence": round(m.confidence, 4),
                "explanation": m.explanation,
                "low_stock": m.low_stock,
                "in_stock": products[m.product_id].stock > 0,
            }
            for m in matches
        ],
    }
