"""Engine and session handling: SQLite by default, Postgres through DATABASE_URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, declarative_base, sessionmaker
from sqlalchemy.pool import QueuePool

Base = declarative_base()


class DatabaseError(RuntimeError):
    """The database cannot be reached or used; the message says which and why."""


def make_engine(url: str, **kwargs) -> Engine:
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        if path and path != ":memory:":
            # Keep connections open: closing the last one checkpoints the WAL (~15 ms each).
            kwargs.setdefault("poolclass", QueuePool)
        engine = create_engine(
            url, future=True, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own BEGIN handling defers locks; take them at BEGIN so that
        # read-then-write transactions (stock, counters) serialise instead of failing.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    return create_engine(url, future=True, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_conn, record) -> None:
    dbapi_conn.isolation_level = None  # let the "begin" listener issue BEGIN IMMEDIATE
    sqlite_pragmas(dbapi_conn, record)


def sqlite_pragmas(dbapi_conn, _record) -> None:
    """Connection settings for every user of the SQLite file (Rasa's tracker store too)."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    # Erased values are overwritten with zeros, not left in free pages (docs/data-protection.md).
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()


def make_session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, future=True, expire_on_commit=False)


def check_connection(engine: Engine) -> None:
    """Raise DatabaseError with a one-line reason when the database is unusable."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any driver error becomes one clear line
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise DatabaseError(
            f"cannot connect to database "
            f"{engine.url.render_as_string(hide_password=True)}: {reason}"
        ) from None


@contextmanager
def session_scope(factory: sessionmaker) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session: Session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


_engine: Engine | None = None
_factory: sessionmaker | None = None


def get_engine() -> Engine:
    global _engine
    if _engine is None:
        from backend.config import get_settings

        _engine = make_engine(get_settings().database_url)
    return _engine


def get_session_factory() -> sessionmaker:
    global _factory
    if _factory is None:
        _factory = make_session_factory(get_engine())
    return _factory


def reset_engine() -> None:
    global _engine, _factory
    if _engine is not None:
        _engine.dispose()
    _engine, _factory = None, None


def utcnow():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def aware(value):
    """SQLite hands back naive datetimes; everything stored here is UTC."""
    from datetime import timezone

    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value
