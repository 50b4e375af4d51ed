"""Trend ingestion: fetch every source, score the signals against the catalog, store them.

One failing source never stops the others: it gets a status (not configured, credentials
rejected, rate limited until …, failed) and the run carries on. Only aggregate signals are
stored: topic, keywords, volume, a ≤280-character snippet without @handles or URLs, and
the source URL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from backend.catalog.models import Product
from backend.db import aware
from backend.integrations import IntegrationError
from backend.logging_setup import log_event
from backend.trends.models import SourceBudget, SourceState, Trend, TrendMatch, TrendPoint
from backend.trends.normalize import keywords, snippet, terms, tokens
from backend.trends.scoring import CatalogItem, Match, ProductIndex
from backend.trends.sources.base import (
    CredentialsRejected,
    RateLimited,
    RawSignal,
    TrendSource,
    VersionRetired,
)

log = logging.getLogger("backend.trends")
KEEP_TRENDS = timedelta(days=30)  # older trends (and their matches) are pruned
KEEP_HISTORY = timedelta(days=365)  # the score time series (TREND_HISTORY_DAYS in the job)

OK = "ok"
NOT_CONFIGURED = "not configured"
CREDENTIALS_REJECTED = "credentials rejected"
RATE_LIMITED = "rate limited"
FAILED = "failed"
VERSION_RETIRED = "API version retired"


@dataclass(frozen=True)
class SourceResult:
    source: str
    status: str  # ok | not configured | credentials rejected | rate limited | failed |
    # API version retired
    detail: str = ""
    signals: int = 0
    stored: int = 0
    matches: int = 0
    retry_at: datetime | None = None

    @property
    def label(self) -> str:
        if self.status == RATE_LIMITED and self.retry_at:
            return f"rate limited until {self.retry_at.strftime('%Y-%m-%d %H:%M UTC')}"
        if self.status == FAILED and self.detail:
            return f"failed: {self.detail}"
        return self.status


@dataclass
class IngestResult:
    sources: list[SourceResult] = field(default_factory=list)
    trends_stored: int = 0
    matches_stored: int = 0
    irrelevant: int = 0  # signals that matched no product and no goal: not stored
    pruned: int = 0
    history_points: int = 0

    def counts(self) -> dict:
        """What the job run records: totals plus one status label per source."""
        counts: dict = {
            "trends": self.trends_stored,
            "matches": self.matches_stored,
            "irrelevant": self.irrelevant,
            "pruned": self.pruned,
            "history_points": self.history_points,
        }
        for result in self.sources:
            counts[f"source.{result.source}"] = result.label
        return counts


@dataclass
class _Fetched:
    source: TrendSource
    status: str
    detail: str = ""
    signals: list[RawSignal] = field(default_factory=list)
    retry_at: datetime | None = None


def load_states(session: Session) -> dict[str, SourceState]:
    return {s.source: s for s in session.execute(select(SourceState)).scalars()}


def load_budget(session: Session, *, source: str) -> dict[str, datetime]:
    rows = session.execute(select(SourceBudget).where(SourceBudget.source == source)).scalars()
    return {row.key: aware(row.used_at) for row in rows}


def load_amount(session: Session, *, source: str, key: str) -> int:
    """Counted quota used so far under `key` (e.g. X post reads of one month)."""
    amount = session.execute(
        select(SourceBudget.amount).where(SourceBudget.source == source, SourceBudget.key == key)
    ).scalar_one_or_none()
    return amount or 0


def catalog_index(session: Session) -> ProductIndex:
    products = session.execute(
        select(Product).where(Product.active.is_(True)).order_by(Product.id)
    ).scalars()
    return ProductIndex(CatalogItem.from_product(p) for p in products)


def ingest(
    session: Session,
    *,
    sources: list[TrendSource],
    now: datetime,
    release: Callable[[], None] | None = None,
    keep_history: timedelta = KEEP_HISTORY,
) -> IngestResult:
    """Fetch, score and store trends from every source; flushes, the caller commits.

    `release`, when given, is called after the reads and before any network call (the job
    passes `session.commit` so SQLite's write lock is not held while waiting on platforms).
    """
    states = {name: (aware(s.retry_at), s.failures) for name, s in load_states(session).items()}
    if release is not None:
        release()
    fetched = [_fetch(source, states.get(source.name, (None, 0))[0], now) for source in sources]
    result = _store(session, fetched=fetched, now=now)
    result.history_points = _record_history(session, now=now, keep=keep_history)
    return result


def _fetch(source: TrendSource, retry_at: datetime | None, now: datetime) -> _Fetched:
    if not source.configured:
        return _Fetched(source, NOT_CONFIGURED, source.missing())
    if retry_at is not None and retry_at > now:
        return _Fetched(
            source, RATE_LIMITED, "waiting for the platform's reset time", retry_at=retry_at
        )
    try:
        signals = source.fetch(now)
    except RateLimited as exc:
        return _Fetched(source, RATE_LIMITED, exc.message, retry_at=exc.retry_at)
    except CredentialsRejected as exc:
        return _Fetched(source, CREDENTIALS_REJECTED, exc.message)
    except VersionRetired as exc:
        return _Fetched(source, VERSION_RETIRED, exc.message)
    except IntegrationError as exc:
        return _Fetched(source, FAILED, exc.message if exc.permanent else f"{exc.message}")
    except Exception as exc:  # noqa: BLE001 - one broken source must not stop the others
        log.debug("trend source crashed", exc_info=True)
        return _Fetched(source, FAILED, f"internal error: {type(exc).__name__}")
    return _Fetched(source, OK, source.notes(), signals=signals)


def _store(session: Session, *, fetched: list[_Fetched], now: datetime) -> IngestResult:
    result = IngestResult()
    index = catalog_index(session) if any(f.status == OK and f.signals for f in fetched) else None
    for item in fetched:
        stored = matches = 0
        if item.status == OK and index is not None:
            stored, matches, irrelevant = _store_signals(session, item.signals, index, now)
            result.trends_stored += stored
            result.matches_stored += matches
            result.irrelevant += irrelevant
        _store_quota(session, item.source, now)
        _update_state(session, item, now)
        source_result = SourceResult(
            source=item.source.name,
            status=item.status,
            detail=item.detail,
            signals=len(item.signals),
            stored=stored,
            matches=matches,
            retry_at=item.retry_at,
        )
        result.sources.append(source_result)
        log_event(
            log, "trend source done", source=item.source.name, status=item.status, stored=stored
        )
    result.pruned = _prune(session, now)
    session.flush()
    return result


def _store_signals(
    session: Session, signals: list[RawSignal], index: ProductIndex, now: datetime
) -> tuple[int, int, int]:
    latest = {s.external_id: s for s in signals}  # one row per (source, external_id)
    stored = matches_stored = irrelevant = 0
    for signal in latest.values():
        toks = tokens(f"{signal.topic} {signal.text}")
        published = aware(signal.published_at)
        matches = index.match(toks, volume=signal.volume, published_at=published, now=now)
        if not matches:
            irrelevant += 1
            continue
        trend = _upsert_trend(session, signal, toks, now)
        trend.goals = sorted(index.goals_of(terms(toks)))
        session.execute(delete(TrendMatch).where(TrendMatch.trend_id == trend.id))
        session.add_all(_match_rows(trend.id, matches, now))
        stored += 1
        matches_stored += len(matches)
    return stored, matches_stored, irrelevant


def _upsert_trend(session: Session, signal: RawSignal, toks: list[str], now: datetime) -> Trend:
    trend = session.execute(
        select(Trend).where(Trend.source == signal.source, Trend.external_id == signal.external_id)
    ).scalar_one_or_none()
    if trend is None:
        trend = Trend(source=signal.source, external_id=signal.external_id[:200])
        session.add(trend)
    trend.topic = snippet(signal.topic, 300) or signal.external_id[:300]
    trend.keywords = keywords(" ".join(toks))
    trend.volume = max(0, int(signal.volume))
    trend.snippet = snippet(signal.snippet, 280) or None
    trend.url = (signal.url or "")[:1000] or None
    trend.published_at = signal.published_at
    trend.fetched_at = now
    session.flush()
    return trend


def _match_rows(trend_id: int, matches: list[Match], now: datetime) -> list[TrendMatch]:
    return [
        TrendMatch(
            trend_id=trend_id,
            product_id=m.product_id,
            score=m.score,
            confidence=m.confidence,
            explanation=m.explanation,
            low_stock=int(m.low_stock),
            created_at=now,
        )
        for m in matches
    ]


def _store_quota(session: Session, source: TrendSource, now: datetime) -> None:
    for key, used_at in source.quota_uses().items():
        row = session.execute(
            select(SourceBudget).where(SourceBudget.source == source.name, SourceBudget.key == key)
        ).scalar_one_or_none()
        if row is None:
            session.add(SourceBudget(source=source.name, key=key, used_at=used_at))
        else:
            row.used_at = used_at
    for key, amount in source.quota_amounts().items():
        row = session.execute(
            select(SourceBudget).where(SourceBudget.source == source.name, SourceBudget.key == key)
        ).scalar_one_or_none()
        if row is None:
            session.add(SourceBudget(source=source.name, key=key, used_at=now, amount=amount))
        else:
            row.used_at, row.amount = now, (row.amount or 0) + amount


def _update_state(session: Session, item: _Fetched, now: datetime) -> None:
    state = session.get(SourceState, item.source.name)
    if state is None:
        state = SourceState(
            source=item.source.name, status=item.status, failures=0, signals=0, detail=""
        )
        session.add(state)
    state.status = item.status
    state.detail = item.detail[:300]
    state.retry_at = item.retry_at if item.status == RATE_LIMITED else None
    state.signals = len(item.signals)
    if item.status != NOT_CONFIGURED and item.detail != "waiting for the platform's reset time":
        state.last_run_at = now
    if item.status == OK:
        state.last_ok_at = now
        state.failures = 0
    elif item.status == FAILED:
        state.failures = (state.failures or 0) + 1


def _record_history(session: Session, *, now: datetime, keep: timedelta) -> int:
    """One point per trend stored in this run and goal it spoke to (INSERT … SELECT, no rows
    loaded); points older than `keep` are deleted."""
    session.execute(delete(TrendPoint).where(TrendPoint.run_at < now - keep))
    best = (
        select(TrendMatch.trend_id, func.max(TrendMatch.score).label("score"))
        .group_by(TrendMatch.trend_id)
        .subquery()
    )
    rows = session.execute(
        select(Trend.source, Trend.topic, Trend.goals, Trend.volume, best.c.score)
        .join(best, best.c.trend_id == Trend.id)
        .where(Trend.fetched_at == now)
    ).all()
    points = [
        TrendPoint(run_at=now, source=source, topic=topic, goal=goal, score=score, volume=volume)
        for source, topic, goals, volume, score in rows
        for goal in (goals or [None])
    ]
    session.add_all(points)
    session.flush()
    return len(points)


def _prune(session: Session, now: datetime) -> int:
    old = select(Trend.id).where(Trend.fetched_at < now - KEEP_TRENDS)
    ids = list(session.execute(old).scalars())
    if ids:
        session.execute(delete(TrendMatch).where(TrendMatch.trend_id.in_(ids)))
        session.execute(delete(Trend).where(Trend.id.in_(ids)))
    return len(ids)


def source_overview(session: Session, *, sources: list[TrendSource]) -> list[dict]:
    """Per source: configured or why not, and the last run's outcome (CLI and dashboard)."""
    states = load_states(session)
    rows = []
    for source in sources:
        state = states.get(source.name)
        rows.append(
            {
                "source": source.name,
                "configured": source.configured,
                "missing": source.missing(),
                "last_status": state.status if state else None,
                "detail": state.detail if state else "",
                "retry_at": aware(state.retry_at) if state else None,
                "last_ok_at": aware(state.last_ok_at) if state else None,
            }
        )
    return rows


def top_trends(
    session: Session, *, goal: str | None = None, limit: int = 10, now: datetime
) -> list[dict]:
    """The strongest current trends with their matched products and explanations."""
    from backend.trends.recommend import TREND_WINDOW, normalize_goal

    wanted = normalize_goal(goal) if goal else None
    rows = session.execute(
        select(Trend, TrendMatch, Product)
        .join(TrendMatch, TrendMatch.trend_id == Trend.id)
        .join(Product, Product.id == TrendMatch.product_id)
        .where(Trend.fetched_at >= now - TREND_WINDOW, Product.active.is_(True))
        .order_by(TrendMatch.score.desc())
    ).all()
    grouped: dict[int, dict] = {}
    for trend, match, product in rows:
        if wanted and wanted not in (product.goals or []):
            continue
        entry = grouped.setdefault(
            trend.id,
            {
                "topic": trend.topic,
                "source": trend.source,
                "url": trend.url,
                "snippet": trend.snippet,
                "volume": trend.volume,
                "keywords": trend.keywords,
                "fetched_at": aware(trend.fetched_at).isoformat(),
                "score": 0.0,
                "products": [],
            },
        )
        entry["score"] = max(entry["score"], round(match.score, 4))
        entry["products"].append(
            {
                "sku": product.sku,
                "name": product.name,
                "score": round(match.score, 4),
                "confidence": round(match.confidence, 4),
                "explanation": match.explanation,
                "low_stock": bool(match.low_stock),
                "in_stock": product.stock > 0,
            }
        )
    ordered = sorted(grouped.values(), key=lambda e: (-e["score"], e["topic"]))
    return ordered[:limit]
