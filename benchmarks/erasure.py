"""Erasure of one person (web + WhatsApp chat, details, consents, follow-up, tracker rows) in a
database of other people: ms per erasure (the registry pass, commit) and per WAL checkpoint, and
identity lookups per second through the unique keys.

Results: benchmarks/results/erasure.json. Usage: python benchmarks/erasure.py [--people 400]
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

from sqlalchemy import text  # noqa: E402

from backend import migrations  # noqa: E402
from backend.contacts import identity, rights  # noqa: E402
from backend.contacts import service as contacts  # noqa: E402
from backend.db import make_engine, make_session_factory, session_scope  # noqa: E402
from backend.privacy.registry import scrub_storage  # noqa: E402

V = "2026-11"
KEY = "benchmark-pseudonym-key"


def person(session, n: int) -> None:
    phone = f"+1415555{n:04d}"
    for sender, channel in ((f"web-{n}", "rest"), (f"whatsapp:{phone}", "twilio")):
        contacts.record_privacy(
            session, sender_id=sender, channel=channel, granted=True, wording="w", version=V
        )
        session.execute(
            text(
                "INSERT INTO events (sender_id, type_name, timestamp, data) "
                "VALUES (:s, 'user', 1, :d)"
            ),
            {"s": sender, "d": json.dumps({"text": f"I am person {n}, {phone}"})},
        )
        if channel == "rest":
            contacts.save_contact_details(
                session,
                sender_id=sender,
                version=V,
                details=contacts.ContactDetails(
                    name=f"Person {n}",
                    email=f"person{n}@example.com",
                    phone_e164=phone,
                    marketing_channels=("email", "sms"),
                    transactional=True,
                ),
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=400)
    parser.add_argument("--erase", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        migrations.upgrade(engine)
        factory = make_session_factory(engine)
        with session_scope(factory) as s:
            s.execute(
                text(
                    "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255), "
                    "type_name VARCHAR(255), timestamp FLOAT, data TEXT)"
                )
            )
            s.execute(text("CREATE INDEX ix_events_sender ON events (sender_id)"))
        started = time.perf_counter()
        for n in range(args.people):
            with session_scope(factory) as s:
                person(s, n)
        build_s = time.perf_counter() - started

        started = time.perf_counter()
        lookups = 2000
        with session_scope(factory) as s:
            for i in range(lookups):
                found = identity.find_person(s, email=f"PERSON{i % args.people}@Example.com")
                assert found is not None
        lookups_per_s = lookups / (time.perf_counter() - started)

        erase_ms, scrub_ms = [], []
        for n in range(args.erase):
            t0 = time.perf_counter()
            with session_scope(factory) as s:
                contact = identity.find_person(s, email=f"person{n}@example.com")
                result = rights.erase(s, contact=contact, key=KEY, version=V)
                assert result.conversations == 2
            t1 = time.perf_counter()
            scrub_storage(engine)
            erase_ms.append((t1 - t0) * 1000)
            scrub_ms.append((time.perf_counter() - t1) * 1000)
        engine.dispose()

    result = {
        "people": args.people,
        "erased": args.erase,
        "build_people_per_s": round(args.people / build_s, 1),
        "identity_lookups_per_s": round(lookups_per_s),
        "erase_ms_p50": round(statistics.median(erase_ms), 1),
        "erase_ms_p95": round(sorted(erase_ms)[int(len(erase_ms) * 0.95) - 1], 1),
        "wal_checkpoint_ms_p50": round(statistics.median(scrub_ms), 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    out = ROOT / "benchmarks" / "results" / "erasure.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
