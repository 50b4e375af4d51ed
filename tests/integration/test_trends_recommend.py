"""recommend_for_goal / trending_for_goal on a migrated SQLite database."""

from __future__ import annotations

from datetime import timedelta

from backend.catalog.models import Product
from backend.db import utcnow
from backend.trends.models import Trend, TrendMatch
from backend.trends.recommend import (
    DSHEA_DISCLAIMER,
    GENERAL_DISCLAIMER,
    recommend_for_goal,
    trending_for_goal,
)


def product(sku, name, goals, stock, **kw):
    return Product(
        sku=sku,
        name=name,
        category="supplement",
        goals=goals,
        keywords=kw.pop("keywords", []),
        synonyms=[],
        ingredients=[],
        price_minor=kw.pop("price_minor", 1999),
        currency="USD",
        stock=stock,
        is_supplement=kw.pop("is_supplement", True),
        active=kw.pop("active", True),
        **kw,
    )


def seed(session):
    items = [
        product("WL-1", "Green Tea Extract", ["weight_loss"], 40),
        product("WL-2", "Fiber Blend", ["weight_loss"], 3),
        product("WL-3", "Protein Shake", ["weight_loss"], 0),
        product("WL-4", "Fasting Electrolytes", ["weight_loss"], 20),
        product("WL-5", "Retired Tea", ["weight_loss"], 50, active=False),
        product("BP-1", "Beet Root Powder", ["blood_pressure"], 10),
    ]
    session.add_all(items)
    session.flush()
    return {p.sku: p for p in items}


def test_catalog_relevance_alone_in_stock_first(session):
    seed(session)
    rec = recommend_for_goal(session, goal="weight loss", limit=3)
    skus = [p.sku for p in rec.products]
    assert rec.goal == "weight_loss"
    assert "WL-5" not in skus and "BP-1" not in skus  # inactive / other goal
    assert skus == ["WL-1", "WL-4", "WL-2"]  # in stock first, more stock first without trends
    fiber = rec.products[2]
    assert fiber.low_stock is True and rec.products[0].low_stock is False
    assert fiber.why == "matches your goal weight loss"
    assert DSHEA_DISCLAIMER in fiber.disclaimer and GENERAL_DISCLAIMER in fiber.disclaimer
    assert DSHEA_DISCLAIMER in rec.disclaimer and GENERAL_DISCLAIMER in rec.disclaimer
    assert rec.bundle_skus == ["WL-1", "WL-4"] and rec.bundle_name == "Weight loss starter pair"
    assert rec.trending_topics == []


def test_trend_scores_reorder_and_build_bundle(session):
    by_sku = seed(session)
    now = utcnow()
    fasting = Trend(
        source="rss",
        external_id="a",
        topic="intermittent fasting",
        goals=["weight_loss"],
        keywords=[],
        volume=5,
        fetched_at=now,
    )
    old = Trend(
        source="x",
        external_id="b",
        topic="old fad",
        keywords=[],
        volume=5,
        fetched_at=now - timedelta(days=60),
    )
    session.add_all([fasting, old])
    session.flush()
    session.add_all(
        [
            TrendMatch(
                trend_id=fasting.id,
                product_id=by_sku["WL-4"].id,
                score=0.9,
                confidence=0.9,
                explanation="x",
            ),
            TrendMatch(
                trend_id=fasting.id,
                product_id=by_sku["WL-2"].id,
                score=0.6,
                confidence=0.6,
                explanation="x",
            ),
            TrendMatch(
                trend_id=fasting.id,
                product_id=by_sku["WL-3"].id,
                score=0.95,
                confidence=0.9,
                explanation="x",
            ),
            TrendMatch(
                trend_id=old.id,
                product_id=by_sku["WL-1"].id,
                score=5.0,
                confidence=0.9,
                explanation="x",
            ),
        ]
    )
    session.flush()

    rec = recommend_for_goal(session, goal="weight_loss", limit=4)
    assert [p.sku for p in rec.products] == ["WL-4", "WL-2", "WL-1", "WL-3"]  # out of stock last
    assert (
        rec.products[0].why
        == "matches your goal weight loss; trending now: intermittent fasting (rss)"
    )
    assert rec.products[3].why.endswith("currently out of stock")
    assert rec.bundle_skus == ["WL-2", "WL-4"]  # co-matched, both in stock
    assert rec.bundle_name == "Trending together: intermittent fasting"
    assert rec.trending_topics == ["intermittent fasting"]  # the 60-day-old trend is not current

    assert trending_for_goal(session, goal="weight_loss") == [
        {"topic": "intermittent fasting", "source": "rss", "score": 0.95, "url": None}
    ]
    assert trending_for_goal(session, goal="blood_pressure") == []


def test_non_supplement_gets_general_disclaimer_only(session):
    session.add(product("FIT-1", "Jump Rope", ["weight_loss"], 5, is_supplement=False))
    session.flush()
    rec = recommend_for_goal(session, goal="weight_loss")
    assert rec.disclaimer == GENERAL_DISCLAIMER
    assert rec.products[0].disclaimer == GENERAL_DISCLAIMER
    assert rec.bundle_skus == [] and rec.bundle_name is None


def _sample_shop(session):
    from backend.catalog.service import SAMPLE_CATALOG, load_catalog
    from backend.trends.service import ingest
    from backend.trends.sources.rss import RssSource, sample_feeds

    load_catalog(session, source=str(SAMPLE_CATALOG))
    ingest(session, sources=[RssSource(feeds=sample_feeds())], now=utcnow())
    session.flush()


def test_weight_loss_picks_on_the_sample_catalog_are_weight_loss_products_first(session):
    _sample_shop(session)
    rec = recommend_for_goal(session, goal="weight_loss", limit=3)
    for pick in rec.products:
        main_goal = session.query(Product.goals).filter(Product.sku == pick.sku).scalar()[0]
        assert main_goal == "weight_loss", pick.sku  # not Berberine / Chromium (blood sugar)
    assert all(p.stock > 0 for p in rec.products)


def test_no_drug_name_or_disease_claim_reaches_the_pitch_on_the_sample_feeds(session):
    from backend.trends.compliance import is_compliant

    _sample_shop(session)
    assert session.query(Trend).filter(Trend.topic.like("%Ozempic%")).count() == 1
    for goal in ("weight_loss", "blood_pressure", "diabetes", "anti_aging"):
        rec = recommend_for_goal(session, goal=goal, limit=5)
        shown = [p.why for p in rec.products] + rec.trending_topics + [rec.bundle_name or ""]
        shown += [t["topic"] for t in trending_for_goal(session, goal=goal, limit=10)]
        for text in shown:
            assert is_compliant(text), text
    berberine = next(
        p
        for p in recommend_for_goal(session, goal="diabetes", limit=10).products
        if p.sku == "DB-002"
    )
    assert "Ozempic" not in berberine.why and "trending now: berberine" in berberine.why


def test_hostile_headline_is_not_quoted_as_the_why(session):
    by_sku = seed(session)
    trend = Trend(
        source="x",
        external_id="h",
        topic="Green tea: nature's Wegovy that cures obesity",
        goals=["weight_loss"],
        keywords=[],
        volume=5,
        fetched_at=utcnow(),
    )
    session.add(trend)
    session.flush()
    session.add(
        TrendMatch(
            trend_id=trend.id,
            product_id=by_sku["WL-1"].id,
            score=0.9,
            confidence=0.9,
            explanation="x",
        )
    )
    session.flush()
    by_sku["WL-1"].keywords = ["green tea"]
    rec = recommend_for_goal(session, goal="weight_loss", limit=3)
    assert rec.products[0].why == "matches your goal weight loss; trending now: green tea (x)"
    assert rec.trending_topics == []  # no product hint here: the headline is left out
    assert trending_for_goal(session, goal="weight_loss") == []
