"""Scoring: keywords, synonyms, goal vocabulary, stock, explanations, index = naive."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from backend.trends.normalize import tokens
from backend.trends.scoring import (
    MIN_CONFIDENCE,
    CatalogItem,
    ProductIndex,
    ingredient_terms,
    naive_matches,
    trend_strength,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def item(pid, sku, *, goals=(), keywords=(), synonyms=(), stock=50):
    return CatalogItem(
        id=pid,
        sku=sku,
        goals=tuple(goals),
        keywords=tuple(keywords),
        synonyms=tuple(synonyms),
        stock=stock,
    )


CATALOG = [
    item(1, "AA-COL", goals=["anti_aging"], keywords=["collagen", "peptides"], synonyms=["glow"]),
    item(
        2,
        "BP-BEET",
        goals=["blood_pressure"],
        keywords=["beetroot", "nitric oxide"],
        synonyms=["beet juice"],
    ),
    item(
        3,
        "WL-KETO",
        goals=["weight_loss"],
        keywords=["electrolytes", "keto"],
        synonyms=["keto flu"],
        stock=0,
    ),
    item(4, "WL-FIB", goals=["weight_loss"], keywords=["fiber", "keto"], stock=3),
    item(
        5,
        "BP-KIT",
        goals=["blood_pressure"],
        keywords=["blood", "pressure", "hibiscus"],
        synonyms=["blood pressure"],
        stock=100,
    ),
]


def match(text, *, index=None, volume=100, published=NOW):
    index = index or ProductIndex(CATALOG)
    return index.match(tokens(text), volume=volume, published_at=published, now=NOW)


def test_exact_keyword_match_names_the_term_and_the_goal():
    [top, *_] = match("New trial: collagen peptides and skin #AntiAging")
    assert top.sku == "AA-COL"
    assert top.explanation.startswith(
        'matched keyword "collagen", "peptides"; goal anti aging via "anti aging"'
    )
    assert "volume 100" in top.explanation


def test_synonym_overlap_matches_with_lower_weight_than_keyword():
    by_synonym = match("everyone drinks beet juice now")[0]
    by_keyword = match("everyone eats beetroot now")[0]
    assert by_synonym.sku == by_keyword.sku == "BP-BEET"
    assert 'synonym "beet juice"' in by_synonym.explanation
    assert by_synonym.confidence < by_keyword.confidence


def test_generic_single_words_do_not_match_but_their_phrase_does():
    assert [
        m.sku for m in match("blood sugar spikes after meals")
    ] == []  # "blood" alone is too generic
    assert match("home blood pressure checks")[0].sku == "BP-KIT"


def test_out_of_stock_is_demoted_and_low_stock_flagged():
    ranked = match("keto is back #keto")
    skus = [m.sku for m in ranked]
    assert skus.index("WL-FIB") < skus.index("WL-KETO")
    fib = next(m for m in ranked if m.sku == "WL-FIB")
    keto = next(m for m in ranked if m.sku == "WL-KETO")
    assert fib.low_stock and "low stock (3 left)" in fib.explanation
    assert not keto.low_stock and "out of stock (ranked lower)" in keto.explanation


def test_goal_vocabulary_only_reaches_the_goals_best_stocked_products():
    matches = match("is hypertension the silent epidemic?")
    assert sorted(m.sku for m in matches) == ["BP-BEET", "BP-KIT"]
    assert 'goal blood pressure via "hypertension"' in matches[0].explanation


def test_unrelated_text_matches_nothing():
    assert match("local marathon raises record sum for charity") == []


def test_recency_and_volume_raise_the_score_not_the_confidence():
    fresh_big = match("collagen peptides", volume=20_000)[0]
    old_small = match("collagen peptides", volume=1, published=NOW - timedelta(days=6))[0]
    assert fresh_big.score > old_small.score
    assert fresh_big.confidence == old_small.confidence
    assert trend_strength(volume=0, published_at=NOW, now=NOW) == 0.5


def test_ingredient_terms_drop_doses_and_split_parentheses():
    assert ingredient_terms(["glucomannan (konjac root)", "fish oil (EPA 360 mg, DHA 240 mg)"]) == (
        "glucomannan",
        "konjac root",
        "fish oil",
        "EPA",
        "DHA",
    )


WORDS = [
    "collagen",
    "peptides",
    "glow",
    "beetroot",
    "nitric",
    "oxide",
    "keto",
    "fiber",
    "blood",
    "pressure",
    "hibiscus",
    "hypertension",
    "#LowCarbLife",
    "skin",
    "the",
    "new",
    "study",
]


@settings(max_examples=150, deadline=None)
@given(
    words=st.lists(st.sampled_from(WORDS), max_size=14),
    volume=st.integers(min_value=0, max_value=10**7),
    hours=st.integers(min_value=0, max_value=24 * 30),
    stocks=st.lists(st.integers(min_value=-1, max_value=40), min_size=5, max_size=5),
)
def test_index_equals_naive_and_batch_and_confidence_in_range(words, volume, hours, stocks):
    catalog = [CatalogItem(**{**c.__dict__, "stock": s}) for c, s in zip(CATALOG, stocks)]
    index = ProductIndex(catalog)
    toks = tokens(" ".join(words))
    published = NOW - timedelta(hours=hours)
    fast = index.match(toks, volume=volume, published_at=published, now=NOW)
    slow = naive_matches(index, toks, volume=volume, published_at=published, now=NOW)
    assert fast == slow
    [batch] = index.score_batch([(toks, volume, published)], now=NOW)
    assert [m.product_id for m in fast] == [b[0] for b in batch]
    assert all(
        abs(m.score - b[1]) < 1e-6 and abs(m.confidence - b[2]) < 1e-6 for m, b in zip(fast, batch)
    )
    for m in fast:
        assert MIN_CONFIDENCE <= m.confidence <= 1.0
        assert 0.0 <= m.score <= m.confidence
        assert m.explanation.startswith("matched ")
