"""Request-scoped dependencies: settings and one session per request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Path, Request
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db import session_scope

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
