"""What turn replay costs per custom-action call: claim + stored answer (first call) and a
replayed resend, on SQLite (WAL) and, with TEST_POSTGRES_URL, Postgres.

    .venv/bin/python benchmarks/turn_replay.py [--calls 300]

Writes benchmarks/results/turn_replay.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from backend import migrations
from backend.db import make_engine, make_session_factory
from backend.replay.service import TurnGuard, once

RESULTS = Path(__file__).resolve().parent / "results" / "turn_replay.json"
MESSAGE = {"text": "Thanks, Jane! Saved: offers by email.", "buttons": [], "custom": {}}
EVENTS = [{"event": "slot", "name": "email", "value": "jane@example.com", "timestamp": None}]


async def _work(messages: list) -> list:
    messages.append(MESSAGE)
    return EVENTS


async def _measure(factory, calls: int) -> dict:
    guard = TurnGuard(factory)
    first, resend = [], []
    for _ in range(calls):
        key = uuid.uuid4().hex
        for timings in (first, resend):
            messages: list = []
            start = time.perf_counter()
            await once(
                guard,
                key=key,
                sender_id="web-bench",
                action="action_bench",
                messages=messages,
                work=lambda m=messages: _work(m),
                on_busy=lambda: None,
            )
            timings.append((time.perf_counter() - start) * 1000)
    return {
        name: {
            "median_ms": round(statistics.median(t), 2),
            "p95_ms": round(sorted(t)[int(len(t) * 0.95)], 2),
        }
        for name, t in (("first_call", first), ("replayed_resend", resend))
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    results = {"calls": args.calls, "cpu_count": os.cpu_count(), "load_average": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        migrations.upgrade(engine)
        results["sqlite"] = asyncio.run(_measure(make_session_factory(engine), args.calls))
        engine.dispose()
    base = os.environ.get("TEST_POSTGRES_URL")
    if base:  # a scratch database next to it, dropped afterwards
        name = f"hts_bench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        engine = make_engine(base.rsplit("/", 1)[0] + f"/{name}")
        try:
            migrations.upgrade(engine)
            results["postgres"] = asyncio.run(_measure(make_session_factory(engine), args.calls))
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
