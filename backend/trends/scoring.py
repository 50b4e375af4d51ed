"""Score trends against the catalog through an inverted index (term → products).

Building the index costs one pass over the catalog; scoring a trend then touches only the
products that share a term with it, instead of every product. Per (trend, product):

- relevance = exact catalog keywords/ingredients (1.0) + catalog synonyms (0.6), each scaled
  by how specific the term is (shared by fewer products → stronger), + 0.4 when the trend
  speaks the goal vocabulary of one of the product's goals;
- confidence = 1 − e^(−relevance), in [0, 1);
- score = confidence × trend strength (recency half-life 48 h, volume on a log scale)
  × stock factor (out of stock demoted to a quarter; low stock only flagged).

A trend that speaks a goal's vocabulary but names no product is matched to that goal's
few best-stocked products, so "#lowcarb" still reaches the weight-loss shelf.
`naive_matches` is the every-product reference the tests and benchmark compare against.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from backend.trends.normalize import phrase_key, terms
from backend.trends.recommend import LOW_STOCK_THRESHOLD

KEYWORD_WEIGHT = 1.0
SYNONYM_WEIGHT = 0.6
GOAL_WEIGHT = 0.4
OUT_OF_STOCK_FACTOR = 0.25
RECENCY_HALF_LIFE_HOURS = 48.0
MIN_CONFIDENCE = 0.3  # below this a match is noise and is not stored
GOAL_REPRESENTATIVES = 3  # products a goal-only trend is matched to
MATCHES_PER_TREND = 10

# The goal vocabulary: how people talk about each NLU goal (matched after normalisation).
GOAL_VOCABULARY: dict[str, tuple[str, ...]] = {
    "weight_loss": (
        "weight loss",
        "lose weight",
        "losing weight",
        "fat loss",
        "fat burning",
        "fat burner",
        "metabolism",
        "appetite",
        "intermittent fasting",
        "keto",
        "low carb",
        "calorie deficit",
        "slimming",
        "belly fat",
        "satiety",
        "healthy weight",
        "weight management",
    ),
    "blood_pressure": (
        "blood pressure",
        "hypertension",
        "heart health",
        "healthy heart",
        "sodium",
        "potassium",
        "circulation",
        "nitric oxide",
        "dash diet",
        "cardiovascular",
        "beetroot",
        "beet root",
        "cholesterol",
    ),
    "diabetes": (
        "blood sugar",
        "glucose",
        "insulin",
        "insulin resistance",
        "diabetes",
        "diabetic",
        "prediabetes",
        "a1c",
        "glycemic",
        "glycemic index",
        "sugar cravings",
        "metabolic health",
        "blood glucose",
    ),
    "anti_aging": (
        "anti aging",
        "antiaging",
        "healthy aging",
        "wrinkle",
        "fine lines",
        "collagen",
        "skin elasticity",
        "longevity",
        "antioxidant",
        "glow",
        "skincare",
        "hyaluronic acid",
        "youthful skin",
        "nad",
    ),
}

KIND_KEYWORD, KIND_SYNONYM = 0, 1
SCORE_SCALE = (1 << 30) - 1  # scores in [0, 1] quantised to 1e-9 fit in 30 bits
# Single words too generic to match on their own ("blood" would tie blood sugar to blood
# pressure); as part of a phrase ("blood pressure") they still match.
GENERIC_WORDS = frozenset(
    "blood pressure weight loss health healthy support care level levels daily natural".split()  # noqa: SIM905
)


DOSE_RE = re.compile(
    r"\b\d[\d.,]*\s*(?:mg|mcg|µg|g|iu|ml|cm|%|billion|cfu|x)?(?=\W|$)", re.IGNORECASE
)


def ingredient_terms(ingredients: Iterable[str]) -> tuple[str, ...]:
    """'glucomannan (konjac root)' → ('glucomannan', 'konjac root'); doses are dropped."""
    found = []
    for ingredient in ingredients:
        for piece in re.split(r"[(),;]", ingredient):
            piece = DOSE_RE.sub(" ", piece).strip()
            if any(c.isalpha() for c in piece):
                found.append(piece)
    return tuple(found)


@dataclass(frozen=True)
class CatalogItem:
    """What scoring needs of a product (built from a Product row or generated)."""

    id: int
    sku: str
    goals: tuple[str, ...]
    keywords: tuple[str, ...]
    synonyms: tuple[str, ...] = ()
    stock: int = 0

    @classmethod
    def from_product(cls, product) -> CatalogItem:
        return cls(
            id=product.id,
            sku=product.sku,
            goals=tuple(product.goals or ()),
            keywords=tuple(product.keywords or ()) + ingredient_terms(product.ingredients or ()),
            synonyms=tuple(product.synonyms or ()),
            stock=product.stock,
        )


@dataclass(frozen=True)
class Match:
    product_id: int
    sku: str
    score: float
    confidence: float
    explanation: str
    low_stock: bool
    matched_terms: tuple[str, ...]


def trend_strength(*, volume: int, published_at: datetime | None, now: datetime) -> float:
    """Recency × volume in (0, 1]: halves every 48 h; 10,000+ mentions count fully."""
    age_hours = max(0.0, (now - published_at).total_seconds() / 3600) if published_at else 0.0
    recency = 0.5 ** (age_hours / RECENCY_HALF_LIFE_HOURS)
    volume_part = min(1.0, math.log10(1 + max(0, volume)) / 4)
    return recency * (0.5 + 0.5 * volume_part)


def _age_text(published_at: datetime | None, now: datetime) -> str:
    if published_at is None:
        return "just seen"
    hours = max(0, int((now - published_at).total_seconds() // 3600))
    return f"{hours}h old" if hours < 48 else f"{hours // 24}d old"


class ProductIndex:
    """Inverted index of the catalog; `match()` scores one trend's tokens against it."""

    def __init__(self, items: Iterable[CatalogItem], goal_vocabulary=GOAL_VOCABULARY):
        self.items: list[CatalogItem] = list(items)
        self.product_terms: list[list[tuple[str, int, str]]] = []  # per item: (key, kind, surface)
        best: dict[str, dict[int, tuple[int, str]]] = {}  # key → item pos → (kind, surface)
        for pos, item in enumerate(self.items):
            own: dict[str, tuple[int, str]] = {}
            for kind, phrases in ((KIND_KEYWORD, item.keywords), (KIND_SYNONYM, item.synonyms)):
                for phrase in phrases:
                    key = phrase_key(phrase)
                    if key in GENERIC_WORDS:
                        continue
                    if key and (key not in own or kind < own[key][0]):
                        own[key] = (kind, phrase.strip().lower())
            self.product_terms.append(
                [(key, kind, surface) for key, (kind, surface) in own.items()]
            )
            for key, (kind, surface) in own.items():
                best.setdefault(key, {})[pos] = (kind, surface)

        # key → [(item pos, weight)], weight already scaled by term specificity
        self.postings: dict[str, list[tuple[int, float]]] = {}
        self.weight: dict[tuple[str, int], float] = {}
        for key, holders in best.items():
            specificity = 1.0 / (1.0 + math.log10(len(holders)))
            self.postings[key] = [
                (pos, (KEYWORD_WEIGHT if kind == KIND_KEYWORD else SYNONYM_WEIGHT) * specificity)
                for pos, (kind, _) in holders.items()
            ]
            for pos, w in self.postings[key]:
                self.weight[(key, pos)] = w

        self.goal_terms: dict[str, tuple[str, ...]] = {}
        self.goal_surface: dict[str, str] = {}
        for goal, phrases in goal_vocabulary.items():
            for phrase in phrases:
                key = phrase_key(phrase)
                self.goal_surface.setdefault(key, phrase)
                self.goal_terms[key] = tuple(sorted(set(self.goal_terms.get(key, ())) | {goal}))
        self.goal_sets = [frozenset(item.goals) for item in self.items]
        self._sparse = None
        self.representatives: dict[str, list[int]] = {}
        for goal in goal_vocabulary:
            holders = [
                pos for pos, item in enumerate(self.items) if goal in item.goals and item.stock > 0
            ]
            holders.sort(key=lambda pos: (-self.items[pos].stock, self.items[pos].sku))
            self.representatives[goal] = holders[:GOAL_REPRESENTATIVES]

    def _matrices(self):
        """Term × product weight matrix and per-product arrays for `score_batch` (built once)."""
        if self._sparse is None:
            import numpy as np
            from scipy.sparse import csr_matrix

            columns = {key: i for i, key in enumerate(self.postings)}
            rows, cols, data = [], [], []
            for key, posting in self.postings.items():
                for pos, w in posting:
                    rows.append(columns[key])
                    cols.append(pos)
                    data.append(w)
            weights = csr_matrix((data, (rows, cols)), shape=(len(columns), len(self.items)))
            bits = {
                goal: 1 << i
                for i, goal in enumerate(sorted({g for gs in self.goal_terms.values() for g in gs}))
            }
            goal_bits = {key: sum(bits[g] for g in goals) for key, goals in self.goal_terms.items()}
            product_bits = np.array(
                [sum(bits.get(g, 0) for g in item.goals) for item in self.items], dtype=np.int64
            )
            factor = np.array([OUT_OF_STOCK_FACTOR if i.stock <= 0 else 1.0 for i in self.items])
            ids = np.array([item.id for item in self.items], dtype=np.int64)
            self._sparse = (columns, weights, goal_bits, product_bits, factor, ids)
        return self._sparse

    def score_batch(
        self,
        trends: list[tuple[list[str], int, datetime | None]],
        *,
        now: datetime,
        limit: int = MATCHES_PER_TREND,
        chunk: int = 1000,
    ) -> list[list[tuple[int, float, float]]]:
        """Score many trends at once: (product id, score, confidence), best first, per trend.

        The same numbers as `match()` (explanations are left out: they are built only for
        the matches that get stored). The index lookup runs as one sparse matrix product
        per chunk, which keeps the per-trend cost in C.
        """
        import numpy as np
        from scipy.sparse import csr_matrix

        columns, weights, goal_bits, product_bits, factor, ids = self._matrices()
        if len(self.items) >= 1 << 17 or chunk >= 1 << 15:
            raise ValueError("score_batch packs positions in 17 bits: at most 131,071 products")
        min_relevance = -math.log(1 - MIN_CONFIDENCE)
        results: list[list[tuple[int, float, float]]] = []
        for start in range(0, len(trends), chunk):
            part = trends[start : start + chunk]
            q_rows: list[int] = []
            q_cols: list[int] = []
            masks = np.zeros(len(part), dtype=np.int64)
            strengths = np.empty(len(part))
            all_terms = []
            for i, (toks, volume, published_at) in enumerate(part):
                trend_terms = terms(toks)
                all_terms.append(trend_terms)
                mask = 0
                for key in trend_terms:
                    col = columns.get(key)
                    if col is not None:
                        q_rows.append(i)
                        q_cols.append(col)
                    bit = goal_bits.get(key)
                    if bit:
                        mask |= bit
                masks[i] = mask
                strengths[i] = trend_strength(volume=volume, published_at=published_at, now=now)
            query = csr_matrix(
                (np.ones(len(q_rows)), (q_rows, q_cols)), shape=(len(part), weights.shape[0])
            )
            rel_matrix = query @ weights
            counts = np.diff(rel_matrix.indptr)
            rows = np.repeat(np.arange(len(part)), counts)
            cols = rel_matrix.indices
            rel = rel_matrix.data + GOAL_WEIGHT * ((masks[rows] & product_bits[cols]) != 0)
            keep = rel >= min_relevance
            rows, cols, rel = rows[keep], cols[keep], rel[keep]
            confidence = 1.0 - np.exp(-rel)
            score = confidence * strengths[rows] * factor[cols]
            # one int64 sort key: row, then score (9 decimals, descending), then product
            # position — the same order as match()
            quantized = np.rint(score * 1e9).astype(np.int64)
            keys = (rows.astype(np.int64) << 47) | ((SCORE_SCALE - quantized) << 17) | cols
            order = np.argsort(keys)
            rows_sorted = rows[order]
            first = np.searchsorted(rows_sorted, np.arange(len(part)))
            top = order[(np.arange(len(order)) - first[rows_sorted]) < limit]
            rows, cols = rows[top], cols[top]
            score = np.round(score[top], 6)
            confidence = np.round(confidence[top], 6)
            per_row: list[list[tuple[int, float, float]]] = [[] for _ in part]
            for r, pid, sc, cf in zip(
                rows.tolist(), ids[cols].tolist(), score.tolist(), confidence.tolist(), strict=False
            ):
                per_row[r].append((pid, sc, cf))
            for i, (toks, volume, published_at) in enumerate(part):
                if counts[i] == 0 and masks[i]:  # goal-only trend: its goals' representatives
                    matches = self.match(
                        toks, volume=volume, published_at=published_at, now=now, limit=limit
                    )
                    per_row[i] = [(m.product_id, m.score, m.confidence) for m in matches]
            results.extend(per_row)
        return results

    def goals_of(self, trend_terms: set[str]) -> dict[str, str]:
        """Goal → the first (alphabetical) vocabulary phrase of the trend that named it."""
        hit: dict[str, str] = {}
        for key in sorted(trend_terms & self.goal_terms.keys()):
            for goal in self.goal_terms[key]:
                hit.setdefault(goal, self.goal_surface[key])
        return hit

    def relevance(self, trend_terms: set[str]) -> tuple[dict[int, float], dict[str, str]]:
        """Item pos → relevance, touching only products that share a term with the trend."""
        acc: dict[int, float] = {}
        get = self.postings.get
        for key in trend_terms:
            posting = get(key)
            if posting:
                for pos, w in posting:
                    acc[pos] = acc.get(pos, 0.0) + w
        goals = self.goals_of(trend_terms)
        if goals:
            if not acc:  # the trend names no product: reach the goal's best-stocked ones
                for goal in goals:
                    for pos in self.representatives.get(goal, ()):
                        acc.setdefault(pos, 0.0)
            hit = frozenset(goals)
            for pos in acc:
                if self.goal_sets[pos] & hit:
                    acc[pos] += GOAL_WEIGHT
        return acc, goals

    def match(
        self,
        toks: list[str],
        *,
        volume: int,
        published_at: datetime | None,
        now: datetime,
        limit: int = MATCHES_PER_TREND,
    ) -> list[Match]:
        trend_terms = terms(toks)
        acc, goals = self.relevance(trend_terms)
        return self._finish(acc, goals, trend_terms, volume, published_at, now, limit)

    def _finish(self, acc, goals, trend_terms, volume, published_at, now, limit) -> list[Match]:
        if not acc:
            return []
        strength = trend_strength(volume=volume, published_at=published_at, now=now)
        min_relevance = -math.log(1 - MIN_CONFIDENCE)
        scored = []
        for pos, relevance in acc.items():
            if relevance < min_relevance:
                continue
            stock = self.items[pos].stock
            factor = OUT_OF_STOCK_FACTOR if stock <= 0 else 1.0
            confidence = 1.0 - math.exp(-relevance)
            scored.append((confidence * strength * factor, confidence, pos))
        # rounded so float summation order (index vs naive) never changes the ranking
        top = heapq.nlargest(limit, scored, key=lambda s: (round(s[0], 9), -s[2]))
        return [
            self._explain(pos, score, confidence, trend_terms, goals, volume, published_at, now)
            for score, confidence, pos in top
        ]

    def _explain(
        self, pos, score, confidence, trend_terms, goals, volume, published_at, now
    ) -> Match:
        item = self.items[pos]
        keywords = sorted(
            s for key, kind, s in self.product_terms[pos] if kind == 0 and key in trend_terms
        )
        synonyms = sorted(
            s for key, kind, s in self.product_terms[pos] if kind == 1 and key in trend_terms
        )
        parts = []
        if keywords:
            parts.append("keyword " + ", ".join(f'"{k}"' for k in keywords))
        if synonyms:
            parts.append("synonym " + ", ".join(f'"{s}"' for s in synonyms))
        goal_bits = [
            f'goal {goal.replace("_", " ")} via "{term}"'
            for goal, term in sorted(goals.items())
            if goal in item.goals
        ]
        parts.extend(goal_bits)
        text = "matched " + "; ".join(parts) if parts else "matched nothing specific"
        text += f"; trend {_age_text(published_at, now)}, volume {volume:,}"
        low_stock = 0 < item.stock <= LOW_STOCK_THRESHOLD
        if item.stock <= 0:
            text += "; out of stock (ranked lower)"
        elif low_stock:
            text += f"; low stock ({item.stock} left)"
        return Match(
            product_id=item.id,
            sku=item.sku,
            score=round(score, 6),
            confidence=round(confidence, 6),
            explanation=text,
            low_stock=low_stock,
            matched_terms=tuple(keywords + synonyms),
        )


def naive_matches(
    index: ProductIndex,
    toks: list[str],
    *,
    volume: int,
    published_at: datetime | None,
    now: datetime,
    limit: int = MATCHES_PER_TREND,
) -> list[Match]:
    """Reference: the same scores computed by checking every product (tests and benchmark)."""
    trend_terms = terms(toks)
    goals = index.goals_of(trend_terms)
    hit = frozenset(goals)
    acc: dict[int, float] = {}
    for pos in range(len(index.items)):
        relevance = 0.0
        touched = False
        for key, _kind, _surface in index.product_terms[pos]:
            if key in trend_terms:
                relevance += index.weight[(key, pos)]
                touched = True
        if touched:
            acc[pos] = relevance
    if not acc:
        for goal in goals:
            for pos in index.representatives.get(goal, ()):
                acc[pos] = 0.0
    for pos in acc:
        if index.goal_sets[pos] & hit:
            acc[pos] += GOAL_WEIGHT
    return index._finish(acc, goals, trend_terms, volume, published_at, now, limit)
