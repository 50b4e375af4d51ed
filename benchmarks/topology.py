"""Throughput of one vs two `rasa run` instances behind HAProxy, and what each process needs.

Starts the production topology of tests/scale (tests/scale/topology.py: HAProxy round robin
over two Rasa instances and two action servers, Postgres tracker store and backend, Redis lock
store; two schedulers and the web app, idle after their first runs) and loads it through the
balancer with the same virtual users and turns (the consent-first visit of benchmarks/chat_load.py),
alternating: one instance (rasa2 put in maintenance through HAProxy's runtime API, the same
processes stay up), two instances, one, two, ... This machine's speed drifts within minutes
and other work shares its two cores, so each round compares two loads a minute apart and the
result reports every round and the median ratio.

It also records the CPU time each process spent per message during each load, and each
process's resident memory (RSS, summed over the process and what it
forked) and its open connections to Postgres and Redis, after the load.

Needs haproxy, TEST_POSTGRES_URL, TEST_REDIS_URL and models/current.tar.gz.
Results: benchmarks/results/topology.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.chat_load import OUR_SCRIPT, drive  # noqa: E402
from tests.scale.topology import missing_requirements, running_topology  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "topology.json"


def rss_mb(pids: list[int]) -> float:
    total_kb = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        total_kb += int(match.group(1)) if match else 0
    return round(total_kb / 1024, 1)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / ticks


def connections(pids: dict[int, str], port: int) -> Counter:
    """Established TCP connections to 127.0.0.1:<port>, by process name."""
    out = subprocess.run(
        ["ss", "-tnpH", "state", "established", "dst", f"127.0.0.1:{port}"],
        capture_output=True,
        text=True,
    ).stdout
    counts: Counter = Counter()
    for pid in re.findall(r"pid=(\d+)", out):
        if int(pid) in pids:
            counts[pids[int(pid)]] += 1
    return counts


def footprint(topo) -> dict:
    by_pid = {pid: name for name in topo.procs for pid in topo.pids(name)}
    pg = connections(by_pid, urlsplit(topo.db_url).port or 5432)
    redis = connections(by_pid, urlsplit(topo.redis_url).port or 6379)
    return {
        name: {
            "rss_mb": rss_mb(topo.pids(name)),
            "postgres_connections": pg.get(name, 0),
            "redis_connections": redis.get(name, 0),
        }
        for name in topo.procs
    }


def tracker_growth(db_url: str) -> dict:
    """Rows and bytes Rasa's tracker store (the `events` table) holds per user message."""
    from sqlalchemy import text

    from backend.db import make_engine

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            rows, turns = conn.execute(
                text("SELECT count(*), count(*) FILTER (WHERE type_name = 'user') FROM events")
            ).one()
            size = conn.execute(text("SELECT pg_total_relation_size('events')")).scalar_one()
    finally:
        engine.dispose()
    return {
        "user_messages": turns,
        "rows_per_user_message": round(rows / turns, 1),
        "bytes_per_user_message_with_indexes": round(size / turns),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--turns", type=int, default=16, help="messages per virtual user")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    reason = missing_requirements()
    if reason:
        sys.exit(f"cannot run: {reason}")
    # SIGTERM (kill <pid>) stops the topology's processes too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="hts-topology-"))  # kept when the run fails: the logs
    print(f"process logs in {work}", flush=True)
    with running_topology(work) as topo:
        drive(topo.webhook, OUR_SCRIPT, 4, len(OUR_SCRIPT))  # warm-up: both instances, caches
        rounds = []
        for i in range(args.rounds):
            result = {}
            for mode, state in (("one_instance", "maint"), ("two_instances", "ready")):
                topo.haproxy_command(f"set server rasa/rasa2 state {state}")
                topo.wait_for_state("rasa", "rasa2", "MAINT" if state == "maint" else "UP")
                before = {name: cpu_seconds(topo.pids(name)) for name in topo.procs}
                result[mode] = drive(topo.webhook, OUR_SCRIPT, args.users, args.turns)
                messages = result[mode]["messages"]
                result[mode]["cpu_ms_per_message"] = {
                    name: round((cpu_seconds(topo.pids(name)) - before[name]) * 1000 / messages, 1)
                    for name in topo.procs
                }
            result["ratio"] = round(
                result["two_instances"]["msg_per_s"] / result["one_instance"]["msg_per_s"], 2
            )
            print(f"round {i + 1}: {json.dumps(result)}", flush=True)
            rounds.append(result)
        processes = footprint(topo)
        tracker = tracker_growth(topo.db_url)
    report = {
        "what": "msg/s through HAProxy: rasa2 in maintenance (one instance) vs both, "
        "alternating on the same processes",
        "cpu_count": os.cpu_count(),
        "users": args.users,
        "turns_per_user": args.turns,
        "sanic_workers_per_instance": 1,
        "action_servers": 2,
        "schedulers": 2,
        "tracker_store_db": "postgres",
        "lock_store": "redis (AtomicRedisLockStore)",
        "rounds": rounds,
        "median_one_instance_msg_per_s": statistics.median(
            r["one_instance"]["msg_per_s"] for r in rounds
        ),
        "median_two_instances_msg_per_s": statistics.median(
            r["two_instances"]["msg_per_s"] for r in rounds
        ),
        "median_ratio": statistics.median(r["ratio"] for r in rounds),
        "processes_after_load": processes,
        "tracker_store": tracker,
        "load_average_1min_at_end": round(os.getloadavg()[0], 1),
        "note": "2-core machine: the two instances share its two cores with the action servers, "
        "Postgres, Redis, HAProxy and the load generator, so on an idle machine 2x is not "
        "possible. When other work oversubscribes the machine (load average above 2), a second "
        "process also wins a larger share of the contended CPU, so the ratio then overstates "
        "what a second instance adds; cpu_ms_per_message is the steadier figure for sizing",
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    shutil.rmtree(work)
    print(json.dumps({k: report[k] for k in report if k.startswith("median")}))


if __name__ == "__main__":
    main()
