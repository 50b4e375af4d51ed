"""Reads of the trend score history (trend_history, written by every ingest run): the score of
each goal over time, and the topics that rose or fell between the last two runs. Aggregates in
SQL; no personal data (trends are aggregate signals)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.trends.models import SourceState, TrendPoint

NO_GOAL = "(no goal)"


def _key(value) -> str:
    """Run times as ISO text; SQLite hands them back naive (stored as UTC)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(timespec="minutes")
    return value.isoformat() if isinstance(value, date) else str(value)[:16].replace(" ", "T")


def score_by_goal(session: Session, *, since: datetime) -> dict:
    """Per ingest run since `since`: the best trend score of each goal (None: no trend then)."""
    rows = session.execute(
        select(TrendPoint.run_at, TrendPoint.goal, func.max(TrendPoint.score))
        .where(TrendPoint.run_at >= since)
        .group_by(TrendPoint.run_at, TrendPoint.goal)
        .order_by(TrendPoint.run_at)
    ).all()
    runs: list[str] = []
    for run_at, _, _ in rows:
        if not runs or runs[-1] != _key(run_at):
            runs.append(_key(run_at))
    goals = sorted({goal or NO_GOAL for _, goal, _ in rows})
    found = {(_key(run_at), goal or NO_GOAL): round(score, 4) for run_at, goal, score in rows}
    return {
        "runs": runs,
        "goals": goals,
        "series": {goal: [found.get((run, goal)) for run in runs] for goal in goals},
    }


def movers(session: Session, *, limit: int = 10) -> dict:
    """Topics whose score changed most between the last two runs (new topics count as rising)."""
    last_two = list(
        session.execute(
            select(TrendPoint.run_at)
            .group_by(TrendPoint.run_at)
            .order_by(TrendPoint.run_at.desc())
            .limit(2)
        ).scalars()
    )
    if not last_two:
        return {"rising": [], "falling": [], "latest_run": None}

    def scores(run_at) -> dict[tuple[str, str], float]:
        rows = session.execute(
            select(TrendPoint.source, TrendPoint.topic, func.max(TrendPoint.score))
            .where(TrendPoint.run_at == run_at)
            .group_by(TrendPoint.source, TrendPoint.topic)
        )
        return {(source, topic): score for source, topic, score in rows}

    latest = scores(last_two[0])
    previous = scores(last_two[1]) if len(last_two) == 2 else {}
    changes = [
        {
            "source": key[0],
            "topic": key[1],
            "score": round(latest.get(key, 0.0), 4),
            "change": round(latest.get(key, 0.0) - previous.get(key, 0.0), 4),
        }
        for key in set(latest) | set(previous)
    ]
    rising = sorted((c for c in changes if c["change"] > 0), key=lambda c: -c["change"])
    falling = sorted((c for c in changes if c["change"] < 0), key=lambda c: c["change"])
    return {"rising": rising[:limit], "falling": falling[:limit], "latest_run": _key(last_two[0])}


def source_states(session: Session) -> list[dict]:
    """Each source's last outcome and error text (platform messages, no personal data)."""
    return [
        {
            "source": s.source,
            "status": s.status,
            "detail": s.detail,
            "last_run_at": _key(s.last_run_at) if s.last_run_at else None,
            "last_ok_at": _key(s.last_ok_at) if s.last_ok_at else None,
        }
        for s in session.execute(select(SourceState).order_by(SourceState.source)).scalars()
    ]
