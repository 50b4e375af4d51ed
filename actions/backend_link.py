"""Where actions get the backend from: settings, a session factory and the payment provider.

Nothing connects at import time: the first action that needs the database builds the engine
(from DATABASE_URL). Tests call `override(...)` to point every action at their own database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

_overrides: dict = {}


def settings():
    if "settings" in _overrides:
        return _overrides["settings"]
    from backend.config import get_settings

    return get_settings()


def session_factory():
    if "session_factory" in _overrides:
        return _overrides["session_factory"]
    from backend.db import get_session_factory

    return get_session_factory()


def payments():
    if "payments" in _overrides:
        return _overrides["payments"]
    from backend.bootstrap import adapters

    return adapters(settings()).payments  # built once per process, not per action call


@contextmanager
def unit_of_work() -> Iterator:
    """One transaction: commit when the block succeeds, roll back on any error."""
    import backend.models  # noqa: F401 - every mapper (foreign keys span areas)
    from backend.db import session_scope

    with session_scope(session_factory()) as session:
        yield session


def override(**values) -> None:
    """Tests: override(settings=..., session_factory=..., payments=...)."""
    _overrides.update(values)


def reset() -> None:
    _overrides.clear()
