"""Recommendations for a wellness goal: catalog relevance blended with current trend scores.

Catalog relevance decides who is in (active products tagged with the goal) and comes first in
the order: a product whose main goal is this one (first in its `goals`) before one that only
also helps; then available before out of stock, current trend score, more stock, lower price.
Every answer carries the disclaimer (general information only; the FDA/DSHEA wording when a
supplement is among the products). Text built from trend headlines passes the compliance
filter (backend/trends/compliance.py): no drug names or disease claims reach a customer.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from itertools import combinations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.catalog.models import Product
from backend.db import utcnow
from backend.trends.compliance import public_topic
from backend.trends.models import Trend, TrendMatch

DSHEA_DISCLAIMER = (
    "These statements have not been evaluated by the Food and Drug Administration. "
    "This product is not intended to diagnose, treat, cure, or prevent any disease."
)
GENERAL_DISCLAIMER = "General information only, not medical advice."
LOW_STOCK_THRESHOLD = 5  # units; at or below this a product is flagged "low stock"
OFF_GOAL_FACTOR = 0.25
TREND_WINDOW = timedelta(days=14)  # trends fetched longer ago no longer count as "trending"


@dataclass(frozen=True)
class RecommendedProduct:
    sku: str
    name: str
    price_minor: int
    currency: str
    stock: int
    why: str
    disclaimer: str
    low_stock: bool
    image: str | None = None  # the catalog's picture path or URL (catalog.service.image_url)


@dataclass(frozen=True)
class Recommendation:
    goal: str
    products: list[RecommendedProduct]
    bundle_skus: list[str]
    bundle_name: str | None
    trending_topics: list[str]
    disclaimer: str
    goal_label: str = ""


def normalize_goal(goal: str) -> str:
    """'Weight loss' / 'weight-loss' → 'weight_loss' (the NLU goal values)."""
    return "_".join(goal.strip().lower().replace("-", " ").split())


# How a goal is named to the customer: the chat's button wording, never a disease name.
GOAL_LABELS = {"diabetes": "blood sugar support"}


def goal_label(goal: str) -> str:
    goal = normalize_goal(goal)
    return GOAL_LABELS.get(goal, goal.replace("_", " "))


def product_disclaimer(product: Product) -> str:
    own = (product.disclaimer or "").strip()
    if product.is_supplement and DSHEA_DISCLAIMER not in own:
        own = f"{own} {DSHEA_DISCLAIMER}".strip()
    return f"{own} {GENERAL_DISCLAIMER}".strip() if GENERAL_DISCLAIMER not in own else own


def goal_fit(product: Product, goal: str) -> int:
    """2: the product's main goal; 1: one of its goals; 0: not for this goal."""
    goals = list(product.goals or [])
    if not goals or goal not in goals:
        return 0
    return 2 if goals[0] == goal else 1


def _shown_topic(trend: Trend, product: Product | None = None) -> str | None:
    """The trend's headline as a customer may read it (see compliance.public_topic)."""
    hints = list(product.keywords or []) if product is not None else []
    return public_topic(trend.topic, hints=hints)


def _goal_products(session: Session, goal: str) -> list[Product]:
    products = session.execute(select(Product).where(Product.active.is_(True))).scalars().all()
    return [p for p in products if goal in (p.goals or [])]


def _recent_matches(session: Session, product_ids: list[int]) -> list[tuple[TrendMatch, Trend]]:
    if not product_ids:
        return []
    since = utcnow() - TREND_WINDOW
    rows = session.execute(
        select(TrendMatch, Trend)
        .join(Trend, Trend.id == TrendMatch.trend_id)
        .where(TrendMatch.product_id.in_(product_ids), Trend.fetched_at >= since)
    ).all()
    return [(match, trend) for match, trend in rows]


def recommend_for_goal(session: Session, *, goal: str, limit: int = 3) -> Recommendation:
    """Top in-stock products for the goal, ordered by current trend score, with a bundle."""
    goal = normalize_goal(goal)
    products = _goal_products(session, goal)
    by_id = {p.id: p for p in products}
    matches = _recent_matches(session, list(by_id))

    trend_score: dict[int, float] = defaultdict(float)
    best_topic: dict[int, tuple[float, Trend]] = {}
    products_of_trend: dict[int, dict[int, float]] = defaultdict(dict)
    topic_score: dict[str, float] = defaultdict(float)
    for match, trend in matches:
        # a trend that spoke this goal's vocabulary counts fully; one about something else
        # (a skincare story matching an omega-3 product) only a little
        score = match.score * (1.0 if goal in (trend.goals or []) else OFF_GOAL_FACTOR)
        trend_score[match.product_id] += score
        if match.product_id not in best_topic or score > best_topic[match.product_id][0]:
            best_topic[match.product_id] = (score, trend)
        products_of_trend[trend.id][match.product_id] = score
        topic_score[trend.topic] = max(topic_score[trend.topic], score)

    def rank(p: Product) -> tuple:
        # goal fit, in stock, trend score, more stock, lower price, name (deterministic)
        return (
            -goal_fit(p, goal),
            p.stock <= 0,
            -trend_score.get(p.id, 0.0),
            -p.stock,
            p.price_minor,
            p.name,
        )

    ranked = sorted(products, key=rank)
    chosen = ranked[:limit]

    label = goal_label(goal)
    recommended = []
    for p in chosen:
        why = f"matches your goal {label}"
        topic = _shown_topic(best_topic[p.id][1], p) if p.id in best_topic else None
        if topic:
            why += f"; trending now: {topic} ({best_topic[p.id][1].source})"
        if p.stock <= 0:
            why += "; currently out of stock"
        recommended.append(
            RecommendedProduct(
                sku=p.sku,
                name=p.name,
                price_minor=p.price_minor,
                currency=p.currency,
                stock=p.stock,
                why=why,
                disclaimer=product_disclaimer(p),
                low_stock=0 < p.stock <= LOW_STOCK_THRESHOLD,
                image=p.image,
            )
        )

    bundle_skus, bundle_name = _bundle(ranked, by_id, products_of_trend, matches, label)
    topics = []
    for headline, _ in sorted(topic_score.items(), key=lambda kv: (-kv[1], kv[0])):
        shown = public_topic(headline)
        if shown and shown not in topics:
            topics.append(shown)
    topics = topics[:5]
    any_supplement = any(p.is_supplement for p in chosen) or any(
        by_id[i].is_supplement for i in by_id if by_id[i].sku in bundle_skus
    )
    disclaimer = (
        f"{DSHEA_DISCLAIMER} {GENERAL_DISCLAIMER}" if any_supplement else GENERAL_DISCLAIMER
    )
    return Recommendation(
        goal=goal,
        products=recommended,
        bundle_skus=bundle_skus,
        bundle_name=bundle_name,
        trending_topics=topics,
        disclaimer=disclaimer,
        goal_label=label,
    )


def _bundle(
    ranked: list[Product],
    by_id: dict[int, Product],
    products_of_trend: dict[int, dict[int, float]],
    matches: list[tuple[TrendMatch, Trend]],
    label: str,
) -> tuple[list[str], str | None]:
    """The in-stock pair most often matched by the same trends; else the goal's top two."""
    pair_score: dict[tuple[int, int], float] = defaultdict(float)
    pair_topic: dict[tuple[int, int], tuple[float, str]] = {}
    topic_of = {trend.id: trend.topic for _, trend in matches}
    for trend_id, scored in products_of_trend.items():
        in_stock = sorted(pid for pid in scored if by_id[pid].stock > 0)
        for a, b in combinations(in_stock, 2):
            together = min(scored[a], scored[b])
            pair_score[(a, b)] += together
            if (a, b) not in pair_topic or together > pair_topic[(a, b)][0]:
                pair_topic[(a, b)] = (together, topic_of[trend_id])
    if pair_score:
        (a, b), _ = max(
            pair_score.items(), key=lambda kv: (kv[1], -by_id[kv[0][0]].id, -by_id[kv[0][1]].id)
        )
        skus = sorted([by_id[a].sku, by_id[b].sku])
        topic = public_topic(pair_topic[(a, b)][1])
        return skus, f"Trending together: {topic}" if topic else f"{label.capitalize()} pair"
    in_stock = [p for p in ranked if p.stock > 0][:2]
    if len(in_stock) == 2:
        return [p.sku for p in in_stock], f"{label.capitalize()} starter pair"
    return [], None


def trending_for_goal(session: Session, *, goal: str | None = None, limit: int = 5) -> list[dict]:
    """Current top trends (for a goal's products when given): topic, source, score, url."""
    since = utcnow() - TREND_WINDOW
    query = (
        select(Trend, TrendMatch.score, Product.goals)
        .join(TrendMatch, TrendMatch.trend_id == Trend.id)
        .join(Product, Product.id == TrendMatch.product_id)
        .where(Trend.fetched_at >= since, Product.active.is_(True))
    )
    wanted = normalize_goal(goal) if goal else None
    best: dict[int, tuple[float, Trend]] = {}
    for trend, score, goals in session.execute(query).all():
        if wanted and wanted not in (goals or []):
            continue
        if wanted and wanted not in (trend.goals or []):
            score *= OFF_GOAL_FACTOR
        if trend.id not in best or score > best[trend.id][0]:
            best[trend.id] = (score, trend)
    ordered = sorted(best.values(), key=lambda st: (-st[0], st[1].topic))
    seen: set[str] = set()
    result = []
    for score, trend in ordered:
        topic = _shown_topic(trend)
        if not topic or topic in seen:  # the same topic twice: show the strongest once
            continue
        seen.add(topic)
        result.append(
            {
                "topic": topic,
                "source": trend.source,
                "score": round(score, 3),
                "url": trend.url,
            }
        )
        if len(result) >= limit:
            break
    return result
