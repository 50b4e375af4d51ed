"""Request-scoped dependencies: settings and one session per request."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db import session_scope


def settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def session_dep(request: Request) -> Iterator[Session]:
    """One unit of work per request: committed when the handler succeeds."""
    with session_scope(request.app.state.session_factory) as session:
        yield session
