"""Request-scoped dependencies: settings, one session per request, per-IP quotas."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db import session_scope
from backend.ratelimit import Limits

# Row ids are INTEGER columns: 4 bytes on Postgres, so a larger number is refused (422) at the
# edge instead of failing in the database ("integer out of range" → 500).
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="a row id")]


def settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def session_dep(request: Request) -> Iterator[Session]:
    """One unit of work per request: committed when the handler succeeds."""
    with session_scope(request.app.state.session_factory) as session:
        yield session


def client_ip(request: Request) -> str:
    """The peer address (uvicorn replaces it from X-Forwarded-For only for trusted proxies)."""
    return request.client.host if request.client else "unknown"


def rate_limits(request: Request) -> Limits:
    """The app's quotas (create_app sets them; an app assembled from routers gets its own)."""
    state = request.app.state
    if getattr(state, "rate_limits", None) is None:
        state.rate_limits = Limits.from_settings(state.settings)
    return state.rate_limits


def _per_ip(quota: str) -> Callable[[Request], None]:
    def check(request: Request) -> None:
        decision = getattr(rate_limits(request), quota).hit(client_ip(request))
        if not decision.allowed:
            raise HTTPException(
                status_code=429,
                detail="too many requests: please wait a moment and try again",
                headers={"Retry-After": str(decision.retry_after)},
            )

    return check


# Route dependencies: `@router.get(..., dependencies=[public_quota])`.
public_quota = Depends(_per_ip("public_ip"))
webhook_quota = Depends(_per_ip("webhook_ip"))
