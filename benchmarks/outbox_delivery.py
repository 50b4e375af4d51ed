"""Outbox delivery by 1, 2 and 4 worker processes on Postgres, and what a crash and an outage cost.

N transactional emails go through the real path (`python -m backend outbox work` processes, the
send gate, the SendGrid adapter) to a local fake SendGrid answering after ~50 ms
(tests/fake_providers.py). Rounds alternate the worker counts (1, 2, 4, 4, 2, 1, …) so a busy
shared CPU hits each count alike. msg_per_s = N / (last sent_at − the moment the rows became
due), with every worker already started and polling. Then, with 4 workers:

* crash:  one worker is SIGKILLed when a third of the rows is sent; the others take over its
  rows when their lease (OUTBOX_LEASE_SECONDS, 5 s here) ends.
* outage: the fake answers 503 for 30 s when a quarter is sent; circuit breakers open
  (OUTBOX_BREAKER_COOLDOWN_SECONDS 5 s here), then probes find it back.

`lost` = rows never accepted by the fake; `duplicates` = requests beyond the first for one
outbox ref. SendGrid has no idempotency key, so these are real second emails, counted.

Usage: python benchmarks/outbox_delivery.py [--db postgresql://…] [--messages 600] [--rounds 2]
Prints one JSON line; writes benchmarks/results/outbox_delivery.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["HTS_ENV_FILE"] = "/nonexistent/.env"  # nothing from a developer's .env

from sqlalchemy import func, select, text, update  # noqa: E402

from backend import migrations  # noqa: E402
from backend.db import make_engine, make_session_factory  # noqa: E402
from backend.outbox.models import OutboxMessage  # noqa: E402
from tests.fake_providers import FakeSendGrid  # noqa: E402
from tests.integration.messaging_support import (  # noqa: E402
    SENDGRID_KEY,
    WORKER_SETTINGS,
    make_settings,
    queue_emails,
)

LEASE_SECONDS = 5
COOLDOWN_SECONDS = 5
OUTAGE_SECONDS = 30
EMAIL = OutboxMessage.kind == "email"


class Run:
    """One scenario: its workers, the fake, the database; rows queued, then made due at once."""

    def __init__(self, *, db_url: str, fake: FakeSendGrid, logs: Path):
        self.db_url, self.fake, self.logs = db_url, fake, logs
        self.engine = make_engine(db_url)
        self.factory = make_session_factory(self.engine)
        self.settings = make_settings(db_url, SENDGRID_API_KEY=SENDGRID_KEY)
        self.workers: list[subprocess.Popen] = []

    def reset(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("DELETE FROM outbox_messages"))
            conn.execute(text("DELETE FROM outbox_circuits"))
        self.fake.refs.clear()
        self.fake.refused = 0

    def queue(self, count: int) -> list[int]:
        later = datetime.now(timezone.utc) + timedelta(days=1)  # due once every worker runs
        return queue_emails(self.factory, self.settings, count=count, not_before=later, tag="b")

    def start(self, count: int) -> None:
        env = {
            **os.environ,
            **WORKER_SETTINGS,
            "DATABASE_URL": self.db_url,
            "SENDGRID_API_BASE": self.fake.url,
            "OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS),
            "OUTBOX_BREAKER_COOLDOWN_SECONDS": str(COOLDOWN_SECONDS),
            "OUTBOX_POLL_SECONDS": "1",
            "LOG_LEVEL": "INFO",
        }
        argv = [sys.executable, "-m", "backend", "outbox", "work", "--kinds", "email"]
        for n in range(count):
            log = self.logs / f"worker-{len(self.workers)}-{n}.log"
            with open(log, "w") as out:
                proc = subprocess.Popen(  # noqa: S603 - fixed argv
                    [*argv, "--until-empty"], cwd=ROOT, env=env, stdout=out, stderr=out
                )
            proc.log = log  # type: ignore[attr-defined]
            self.workers.append(proc)
        deadline = time.monotonic() + 120
        while not all("outbox worker started" in p.log.read_text() for p in self.workers):
            if time.monotonic() > deadline:
                raise SystemExit("workers did not start within 120 s")
            time.sleep(0.2)

    def release(self) -> datetime:
        """Make every queued row due now; the moment they became due."""
        due = datetime.now(timezone.utc)
        with self.engine.begin() as conn:
            conn.execute(update(OutboxMessage).where(EMAIL).values(next_attempt_at=due))
        return due

    def count(self, *statuses: str) -> int:
        with self.factory() as session:
            query = select(func.count()).select_from(OutboxMessage).where(EMAIL)
            if statuses:
                query = query.where(OutboxMessage.status.in_(statuses))
            return session.execute(query).scalar_one()

    def wait_all_sent(self, total: int, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while self.count("sent") < total:
            if time.monotonic() > deadline:
                with self.factory() as session:
                    seen = session.execute(
                        select(OutboxMessage.status, func.count())
                        .where(EMAIL)
                        .group_by(OutboxMessage.status)
                    ).all()
                raise SystemExit(f"not all rows sent within {timeout} s: {dict(seen)}")
            time.sleep(0.2)
        for proc in self.workers:
            proc.wait(timeout=60)
        self.workers.clear()

    def last_sent(self) -> datetime:
        with self.factory() as session:
            return session.execute(select(func.max(OutboxMessage.sent_at)).where(EMAIL)).scalar()

    def outcome(self, ids: list[int]) -> dict:
        expected = {f"email:{i}" for i in ids}
        return {
            "lost": len(expected - self.fake.delivered()),
            "duplicates": self.fake.duplicates(),
            "stuck_sending": self.count("sending"),
            "not_sent": len(ids) - self.count("sent"),
        }

    def stop(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
        self.engine.dispose()


def throughput(run: Run, workers: int, messages: int) -> float:
    run.reset()
    ids = run.queue(messages)
    run.start(workers)
    due = run.release()
    run.wait_all_sent(len(ids))
    assert run.outcome(ids)["lost"] == 0
    return messages / (run.last_sent() - due).total_seconds()


def crash(run: Run, messages: int) -> dict:
    run.reset()
    ids = run.queue(messages)
    run.start(4)
    run.release()
    while run.fake.accepted() < messages // 3:
        time.sleep(0.05)
    victim = run.workers[0]
    held = run.count("sending")
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    killed = time.monotonic()
    run.wait_all_sent(len(ids))
    return {
        "workers": 4,
        "killed_after_sent": messages // 3,
        "rows_sending_at_kill": held,
        "drained_s_after_kill": round(time.monotonic() - killed, 1),
        **run.outcome(ids),
    }


def outage(run: Run, messages: int) -> dict:
    run.reset()
    ids = run.queue(messages)
    run.start(4)
    run.release()
    while run.fake.accepted() < messages // 4:
        time.sleep(0.05)
    run.fake.down = True
    time.sleep(OUTAGE_SECONDS)
    run.fake.down = False
    back = time.monotonic()
    sent_during = run.count("sent")
    run.wait_all_sent(len(ids))
    return {
        "workers": 4,
        "outage_s": OUTAGE_SECONDS,
        "requests_refused_503": run.fake.refused,
        "sent_before_outage_end": sent_during,
        "drained_s_after_outage": round(time.monotonic() - back, 1),
        **run.outcome(ids),
    }


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def fresh_database(base: str) -> tuple[str, object]:
    name = f"hts_bench_outbox_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", "")), (admin, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=os.environ.get("TEST_POSTGRES_URL", ""))
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--out", default="outbox_delivery.json")
    args = parser.parse_args()
    if not args.db.startswith("postgresql"):
        raise SystemExit("give a Postgres server URL with --db (or set TEST_POSTGRES_URL)")
    load_before = os.getloadavg()[0]
    db_url, (admin, name) = fresh_database(args.db)
    rates: dict[int, list[float]] = {1: [], 2: [], 4: []}
    try:
        engine = make_engine(db_url)
        migrations.upgrade(engine)
        engine.dispose()
        with (
            FakeSendGrid(api_key=SENDGRID_KEY, latency=args.latency) as fake,
            tempfile.TemporaryDirectory(prefix="outbox-bench-") as logs,
        ):
            run = Run(db_url=db_url, fake=fake, logs=Path(logs))
            try:
                for n in range(args.rounds):
                    for workers in (1, 2, 4) if n % 2 == 0 else (4, 2, 1):
                        rates[workers].append(throughput(run, workers, args.messages))
                        progress(f"{workers} worker(s): {rates[workers][-1]:.1f} msg/s")
                crashed = crash(run, args.messages)
                progress(f"crash: {crashed}")
                down = outage(run, args.messages)
                progress(f"outage: {down}")
            finally:
                run.stop()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    msg_per_s = {str(w): round(statistics.median(r), 1) for w, r in rates.items()}
    result = {
        "benchmark": "outbox_delivery",
        "database": "postgresql",
        "messages": args.messages,
        "provider_latency_ms": round(args.latency * 1000),
        "provider": "fake SendGrid v3 on 127.0.0.1 (real adapter, real send gate)",
        "msg_per_s": msg_per_s,
        "msg_per_s_rounds": {str(w): [round(x, 1) for x in r] for w, r in rates.items()},
        "speedup_4_vs_1": round(statistics.median(rates[4]) / statistics.median(rates[1]), 2),
        "lost": crashed["lost"] + down["lost"],
        "duplicates": crashed["duplicates"] + down["duplicates"],
        "crash": crashed,
        "outage": down,
        "settings": {
            "OUTBOX_LEASE_SECONDS": LEASE_SECONDS,
            "OUTBOX_BREAKER_COOLDOWN_SECONDS": COOLDOWN_SECONDS,
            "OUTBOX_LANE_BATCH": 20,
        },
        "load_average_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "note": "2-core machine shared with other jobs: absolute figures are noisy; worker "
        "counts alternate within one run, so the ratios compare like with like",
    }
    out = ROOT / "benchmarks" / "results" / args.out
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
