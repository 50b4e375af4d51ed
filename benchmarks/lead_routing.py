"""Lead routing under load: milliseconds to route one new lead (`route_new_lead`: match the
coverage, count each candidate's open leads, assign, write the history row) with 100 covering
sales users and many open leads, with and without the `ix_leads_assigned_status` index.

The two variants alternate round by round in one run (the machine is shared: absolute numbers
are noisy, the ratio within a run is the figure). Each routed lead is rolled back, so every
round sees the same data.

Results: benchmarks/results/lead_routing.json.
Usage: python benchmarks/lead_routing.py [--leads 100000] [--rounds 6] [--database-url URL]
(default: a fresh SQLite file in a temp dir; a Postgres URL must point at an empty database).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from backend import migrations  # noqa: E402
from backend.auth.models import StaffUser  # noqa: E402
from backend.db import make_engine, make_session_factory, session_scope, utcnow  # noqa: E402
from backend.goals import GOALS  # noqa: E402
from backend.sales import assignment  # noqa: E402
from backend.sales.models import Lead, StaffCoverage  # noqa: E402

STAFF = 100
INDEX = "ix_leads_assigned_status"


def fill(factory, leads: int) -> None:
    now = utcnow()
    with session_scope(factory) as s:
        s.execute(insert(StaffUser), [
            {"id": i, "email": f"s{i}@shop.example", "name": f"S{i}", "role": "sales",
             "password_hash": "x", "active": True, "created_at": now}
            for i in range(1, STAFF + 1)
        ])  # fmt: skip
        s.execute(insert(StaffCoverage), [
            {"staff_user_id": i, "goals": [GOALS[i % len(GOALS)]],
             "regions": [], "active": True, "updated_at": now}
            for i in range(1, STAFF + 1)
        ])  # fmt: skip
        statuses = ("new", "assigned", "contacted", "closed", "closed")
        for start in range(0, leads, 20_000):
            s.execute(insert(Lead), [
                {"kind": "callback", "reason": "bench", "priority": "normal",
                 "status": statuses[n % 5], "assigned_to": n % STAFF + 1,
                 "created_at": now, "updated_at": now}
                for n in range(start, min(leads, start + 20_000))
            ])  # fmt: skip


def route_ms(factory, repeats: int) -> list[float]:
    """Route `repeats` new leads (goal diabetes: 25 matching users), each rolled back."""
    out = []
    for _ in range(repeats):
        with factory() as s:
            lead = Lead(kind="handoff", reason="bench", priority="high", goal="diabetes",
                        status="new", created_at=utcnow())  # fmt: skip
            s.add(lead)
            s.flush()
            started = time.perf_counter()
            decision = assignment.route_new_lead(s, lead=lead, contact=None)
            out.append((time.perf_counter() - started) * 1000)
            assert decision.staff_id is not None
            s.rollback()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/lead_routing.json"))
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    url = args.database_url or f"sqlite:///{os.path.join(tmp, 'bench.db')}"
    engine = make_engine(url)
    migrations.upgrade(engine)
    factory = make_session_factory(engine)
    fill(factory, args.leads)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    samples: dict[str, list[float]] = {"with_index": [], "without_index": []}
    for round_no in range(args.rounds):  # alternate: both variants see the same noise
        order = ("with_index", "without_index")
        for variant in order if round_no % 2 == 0 else order[::-1]:
            with engine.begin() as conn:
                if variant == "with_index":
                    conn.execute(text(f"CREATE INDEX IF NOT EXISTS {INDEX} "
                                      "ON leads (assigned_to, status)"))  # fmt: skip
                else:
                    conn.execute(text(f"DROP INDEX IF EXISTS {INDEX}"))
                conn.execute(text("ANALYZE"))
            samples[variant] += route_ms(factory, args.repeats)
    summary = {
        variant: {
            "median_ms": round(statistics.median(values), 3),
            "p95_ms": round(sorted(values)[int(len(values) * 0.95) - 1], 3),
            "routes": len(values),
        }
        for variant, values in samples.items()
    }
    report = {
        "benchmark": "route one new lead (goal diabetes): 100 sales users, 25 cover it",
        "database": engine.dialect.name,
        "leads": args.leads,
        "open_leads": sum(1 for n in range(args.leads) if n % 5 < 3),
        "staff": STAFF,
        "rounds": args.rounds,
        "load_average_1_5_15_min": [round(x, 1) for x in os.getloadavg()],
        "note": "shared 2-core machine, other work running: compare the variants within this "
        "run (alternating rounds), not absolute numbers across runs",
        "results": summary,
        "speedup_median": round(
            summary["without_index"]["median_ms"] / summary["with_index"]["median_ms"], 2
        ),
    }
    print(json.dumps(report, indent=2))
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
