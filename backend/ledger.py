"""Append-only SHA-256 hash chain over consents, invoices, receipts and refunds.

Each entry's hash covers the record's canonical JSON hash and the previous entry's hash,
so an edited, deleted, inserted or reordered entry breaks the chain at that point.
`append` runs inside the caller's transaction: the record and its entry commit together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Column, Integer, String, select, text
from sqlalchemy.orm import Session, make_transient_to_detached

from backend.db import Base

GENESIS_HASH = "0" * 64
_ADVISORY_LOCK_KEY = 7_262_021  # arbitrary constant: serialises appends on Postgres


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"

    seq = Column(Integer, primary_key=True, autoincrement=False)
    entity_type = Column(String(40), nullable=False)
    entity_id = Column(String(100), nullable=False)
    action = Column(String(40), nullable=False)
    record_hash = Column(String(64), nullable=False)
    prev_hash = Column(String(64), nullable=False)
    entry_hash = Column(String(64), unique=True, nullable=False)
    created_at = Column(String(40), nullable=False)  # ISO text: hashed exactly as stored


def canonical_json(record: object) -> bytes:
    return json.dumps(
        record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_hash(record: dict) -> str:
    return sha256_hex(canonical_json(record))


def entry_hash(
    *,
    seq: int,
    entity_type: str,
    entity_id: str,
    action: str,
    record_hash: str,
    prev_hash: str,
    created_at: str,
) -> str:
    # Fixed field order written out by hand: the fastest canonical form (verify is hot).
    payload = (
        f'{{"action":{json.dumps(action)},"created_at":{json.dumps(created_at)},'
        f'"entity_id":{json.dumps(entity_id)},"entity_type":{json.dumps(entity_type)},'
        f'"prev_hash":"{prev_hash}","record_hash":"{record_hash}","seq":{seq}}}'
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


_HEAD = select(LedgerEntry.seq, LedgerEntry.entry_hash).order_by(LedgerEntry.seq.desc()).limit(1)


def append(
    session: Session,
    *,
    entity_type: str,
    entity_id: object,
    action: str,
    record: dict,
    now: datetime | None = None,
) -> LedgerEntry:
    """Add one entry after the current head, in the caller's transaction (no commit)."""
    session.flush()  # the caller's pending rows go first, as with an ORM flush
    # Core statements on the session's connection: the same transaction, a third of the ORM cost
    # (receipts are issued at hundreds per second).
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_KEY})
    head = conn.execute(_HEAD).first()
    seq, prev = (head.seq + 1, head.entry_hash) if head else (1, GENESIS_HASH)
    created = (now or datetime.now(timezone.utc)).isoformat(timespec="microseconds")
    eid = str(entity_id)
    rhash = record_hash(record)
    values = dict(
        seq=seq,
        entity_type=entity_type,
        entity_id=eid,
        action=action,
        record_hash=rhash,
        prev_hash=prev,
        created_at=created,
        entry_hash=entry_hash(
            seq=seq,
            entity_type=entity_type,
            entity_id=eid,
            action=action,
            record_hash=rhash,
            prev_hash=prev,
            created_at=created,
        ),
    )
    conn.execute(LedgerEntry.__table__.insert(), values)
    entry = LedgerEntry(**values)
    make_transient_to_detached(entry)  # already inserted: attach as persistent, no 2nd INSERT
    session.add(entry)
    return entry


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    entity_type: str
    entity_id: str
    problem: str  # "edited" | "missing entry before" | "out of order/inserted"
    stored_hash: str
    computed_hash: str


@dataclass(frozen=True)
class ChainReport:
    checked: int
    problems: tuple[ChainProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad(self) -> ChainProblem | None:
        return self.problems[0] if self.problems else None


Row = tuple  # (seq, entity_type, entity_id, action, record_hash, prev_hash, entry_hash, created_at)


_ROWS_SQL = (
    "SELECT seq, entity_type, entity_id, action, record_hash, prev_hash, entry_hash, created_at "
    "FROM ledger_entries ORDER BY seq"
)


def iter_rows(session: Session, batch: int = 20_000) -> Iterator[Row]:
    """Every entry in seq order as plain tuples, streamed in batches.

    Reads through the driver's own cursor (a server-side one on Postgres): at a million rows the
    SQLAlchemy Row layer would cost more than the hashing itself.
    """
    conn = session.connection()
    dbapi = conn.connection
    if conn.dialect.name == "postgresql":
        cursor = dbapi.cursor(name="ledger_iter_rows")
        cursor.itersize = batch
    else:
        cursor = dbapi.cursor()
    try:
        cursor.execute(_ROWS_SQL)
        while True:
            chunk = cursor.fetchmany(batch)
            if not chunk:
                break
            yield from chunk
    finally:
        cursor.close()


def verify_rows(rows: Iterable[Row], *, max_problems: int = 1000) -> ChainReport:
    """Check sequence continuity, prev-hash links and every entry's own hash."""
    problems: list[ChainProblem] = []
    expected_seq, prev = 1, GENESIS_HASH
    checked = 0
    sha, dumps = hashlib.sha256, json.dumps
    for seq, etype, eid, action, rhash, phash, ehash, created in rows:
        checked += 1
        computed = sha(
            (
                f'{{"action":{dumps(action)},"created_at":{dumps(created)},'
                f'"entity_id":{dumps(eid)},"entity_type":{dumps(etype)},'
                f'"prev_hash":"{phash}","record_hash":"{rhash}","seq":{seq}}}'
            ).encode()
        ).hexdigest()
        if computed != ehash:
            problems.append(ChainProblem(seq, etype, eid, "edited", ehash, computed))
        elif seq != expected_seq:
            problems.append(ChainProblem(seq, etype, eid, "missing entry before", ehash, computed))
        elif phash != prev:
            problems.append(ChainProblem(seq, etype, eid, "out of order/inserted", phash, prev))
        if len(problems) >= max_problems:
            break
        expected_seq, prev = seq + 1, ehash
    return ChainReport(checked=checked, problems=tuple(problems))


def verify(session: Session) -> ChainReport:
    return verify_rows(iter_rows(session))


def latest_for(session: Session, *, entity_type: str, entity_id: object) -> LedgerEntry | None:
    return session.execute(
        select(LedgerEntry)
        .where(LedgerEntry.entity_type == entity_type, LedgerEntry.entity_id == str(entity_id))
        .order_by(LedgerEntry.seq.desc())
        .limit(1)
    ).scalar_one_or_none()
