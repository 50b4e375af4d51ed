"""What the "response time to leads vs SLA" series costs inside the executive overview, on equal
terms: over one database made by benchmarks/executive_overview.py (1M ledger entries, 100k
orders, 20k leads, a first reply for about half of them), alternate rounds of the whole overview
and of the SLA query alone, so machine load hits both alike.

Results: benchmarks/results/overview_sla_share.json.
Usage: python benchmarks/overview_sla_share.py --database-url sqlite:////tmp/.../overview.db
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend.dashboard import overview  # noqa: E402
from backend.db import make_engine, make_session_factory, session_scope, utcnow  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/overview_sla_share.json"))
    args = parser.parse_args()
    factory = make_session_factory(make_engine(args.database_url))

    def overview_figures(days: int) -> None:
        with session_scope(factory) as s:
            overview.executive(s, now=utcnow(), days=days)

    def sla_only(days: int) -> None:
        with session_scope(factory) as s:
            period = overview.Period(end=utcnow(), days=days)
            overview.response_times(s, now=utcnow(), period=period)

    results = {}
    for days in (30, 365):
        samples: dict[str, list[float]] = {"overview": [], "sla_only": []}
        overview_figures(days), sla_only(days)  # warm the caches once
        for _ in range(args.rounds):  # alternate: load on the machine hits both alike
            for name, fn in (("overview", overview_figures), ("sla_only", sla_only)):
                start = time.perf_counter()
                fn(days)
                samples[name].append((time.perf_counter() - start) * 1000)
        med = {name: statistics.median(values) for name, values in samples.items()}
        results[f"{days}_days"] = {
            "overview_median_ms": round(med["overview"], 1),
            "sla_only_median_ms": round(med["sla_only"], 1),
            "sla_share_percent": round(100 * med["sla_only"] / med["overview"], 1),
        }
    with session_scope(factory) as s:
        from sqlalchemy import func, select

        from backend.sales.models import Lead, LeadActivity

        sizes = {
            "leads": s.execute(select(func.count(Lead.id))).scalar_one(),
            "first_replies": s.execute(select(func.count(LeadActivity.id))).scalar_one(),
        }
    report = {
        "benchmark": "overview_sla_share",
        "database": "sqlite",
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 1),
        "data": sizes,
        "rounds": args.rounds,
        "results": results,
        "note": "2 cores shared with other engineers' test runs; the absolute times swing with "
        "their load, the share (alternating rounds) less so",
    }
    print(json.dumps(report, indent=2))
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
