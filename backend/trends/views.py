"""HTTP routes of the trends area: public, aggregate trend data only."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy.orm import Session

from backend.api.deps import session_dep
from backend.db import utcnow
from backend.trends.recommend import normalize_goal
from backend.trends.scoring import GOAL_VOCABULARY
from backend.trends.service import top_trends

router = APIRouter()


@router.get("/api/trends")
def list_trends(
    goal: str | None = Query(default=None, max_length=40),
    limit: int = Query(default=10, ge=1, le=50),
    session: Session = Depends(session_dep),
) -> dict:
    """Top current trends with the products they match and why (no personal data)."""
    if goal and normalize_goal(goal) not in GOAL_VOCABULARY:
        known = ", ".join(sorted(GOAL_VOCABULARY))
        raise HTTPException(status_code=400, detail=f"unknown goal {goal!r}; use one of: {known}")
    return {
        "goal": normalize_goal(goal) if goal else None,
        "trends": top_trends(session, goal=goal, limit=limit, now=utcnow()),
    }
