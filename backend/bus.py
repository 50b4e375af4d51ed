"""The in-process event bus: run each event's handlers now, in the caller's session.

Handlers are registered once per process by backend/bootstrap.py. A handler takes
`(session, event)`, flushes and never commits: the use case that published the event commits
once, so the event's effects (an outbox row, a redacted lead) share its transaction. A handler
that raises makes the whole use case fail and roll back, as a direct call did.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from importlib import import_module

from sqlalchemy.orm import Session

from backend.events import Event

log = logging.getLogger("backend.bus")
Handler = Callable[[Session, Event], object]

_HANDLERS: dict[type[Event], list[Handler]] = {}
_WIRED = threading.Event()
_WIRING_LOCK = threading.Lock()
# The one upward reference of the kernel: a process that publishes before anything wired it
# (an action server, a test calling a service) gets bootstrap's handler table on first use.
WIRING_MODULE = "backend.bootstrap"


def subscribe(event_type: type[Event], handler: Handler) -> None:
    """Make `handler` run for every published event of `event_type` (once, in this order)."""
    handlers = _HANDLERS.setdefault(event_type, [])
    if handler not in handlers:
        handlers.append(handler)


def ensure_wired() -> None:
    """Wire the handler table once per process if nothing has yet."""
    if not _WIRED.is_set():
        with _WIRING_LOCK:
            if not _WIRED.is_set():
                import_module(WIRING_MODULE).wire_handlers()


def mark_wired() -> None:
    """Called by the wiring once every handler is subscribed."""
    _WIRED.set()


def reset() -> None:
    """Forget every handler (tests that wire their own table)."""
    _HANDLERS.clear()
    _WIRED.clear()


def handlers_for(event_type: type[Event]) -> list[Handler]:
    return list(_HANDLERS.get(event_type, ()))


def publish(session: Session, event: Event) -> None:
    """Run the handlers of `event` in `session` (wiring them first if nobody has yet)."""
    ensure_wired()
    for handler in _HANDLERS.get(type(event), ()):
        log.debug("event handled", extra={"event": type(event).__name__})
        handler(session, event)
