"""The executive overview over a big shop: 1M ledger entries, 100k orders (60k paid, with
invoices and receipts), 100k chats, 100k consents, 20k leads. Milliseconds per overview
(every KPI, the pipeline, alerts, funnel and per-day series, with the response time to leads
vs SLA) for 30 and 365 days, and for the whole page (figures + SVG charts + template) through
the web app.

Results: benchmarks/results/executive_overview.json.
Usage: python benchmarks/executive_overview.py [--scale 1.0] [--database-url URL]
(default: a fresh SQLite file in a temp dir; a Postgres URL must point at an empty database).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from backend import migrations  # noqa: E402
from backend.api.app import create_app  # noqa: E402
from backend.auth import service as auth  # noqa: E402
from backend.config import load_settings  # noqa: E402
from backend.contacts.models import ConsentEvent, Contact, Conversation, Interaction  # noqa: E402
from backend.dashboard import overview  # noqa: E402
from backend.db import make_engine, make_session_factory, session_scope, utcnow  # noqa: E402
from backend.jobs.models import JobRun  # noqa: E402
from backend.ledger import LedgerEntry  # noqa: E402
from backend.messaging.models import FollowUp  # noqa: E402
from backend.orders.models import Invoice, Order, Payment, Receipt  # noqa: E402
from backend.sales.models import Lead, LeadActivity  # noqa: E402

BATCH = 20_000


def _bulk(conn, table, rows) -> None:
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            conn.execute(insert(table), batch)
            batch = []
    if batch:
        conn.execute(insert(table), batch)


def generate(engine, *, scale: float) -> dict:
    rnd = random.Random(20261201)
    now = utcnow()
    n_orders, n_chats, n_ledger = int(100_000 * scale), int(100_000 * scale), int(1_000_000 * scale)
    n_contacts, n_leads = int(20_000 * scale), int(20_000 * scale)

    def when(days: int = 60):
        return now - timedelta(seconds=rnd.randrange(days * 86400))

    with engine.begin() as conn:
        _bulk(
            conn,
            Contact.__table__,
            (
                {"public_id": f"c-{i}", "created_at": when(), "updated_at": now}
                for i in range(n_contacts)
            ),
        )
        _bulk(
            conn,
            Conversation.__table__,
            (
                {"sender_id": f"s-{i}", "channel": "web", "contact_id": (i % n_contacts) + 1
                 if i % 2 == 0 else None, "sensitive": False, "handed_off": False,
                 "created_at": when()}
                for i in range(n_chats)
            ),
        )  # fmt: skip
        _bulk(
            conn,
            ConsentEvent.__table__,
            (
                {"contact_id": (i % n_contacts) + 1, "conversation_id": f"s-{i * 2 % n_chats}",
                 "purpose": "privacy" if i % 3 else "health_data", "channel": "chat",
                 "granted": True, "wording": "w", "wording_version": "v", "source": "chat",
                 "created_at": when()}
                for i in range(n_chats)
            ),
        )  # fmt: skip
        _bulk(
            conn,
            Interaction.__table__,
            (
                {"conversation_id": i * 3 + 1, "kind": "recommendation", "detail": {},
                 "created_at": when()}
                for i in range(n_chats // 3)
            ),
        )  # fmt: skip
        paid = []
        orders = []
        for i in range(n_orders):
            status = "paid" if i % 5 < 3 else rnd.choice(["pending_payment", "expired"])
            orders.append(
                {"id": i + 1, "public_id": f"o-{i}", "conversation_id": f"s-{i % n_chats}",
                 "status": status, "currency": "USD", "subtotal_minor": 2999,
                 "tax_minor": 0, "total_minor": 2999, "refunded_minor": 0,
                 "created_at": when(), "updated_at": now}
            )  # fmt: skip
            if status == "paid":
                paid.append(i + 1)
        _bulk(conn, Order.__table__, orders)
        _bulk(
            conn,
            Payment.__table__,
            (
                {"id": k + 1, "order_id": oid, "provider": "sandbox", "provider_ref": f"p-{oid}",
                 "amount_minor": 2999, "currency": "USD", "status": "succeeded",
                 "created_at": orders[oid - 1]["created_at"]}
                for k, oid in enumerate(paid)
            ),
        )  # fmt: skip
        _bulk(
            conn,
            Invoice.__table__,
            (
                {"number": f"INV-{oid}", "year": 2026, "seq": oid, "order_id": oid, "pdf": b"",
                 "sha256": "0" * 64, "issued_at": now}
                for oid in paid
            ),
        )  # fmt: skip
        _bulk(
            conn,
            Receipt.__table__,
            (
                {"number": f"RCT-{oid}", "order_id": oid, "payment_id": k + 1, "pdf": b"",
                 "sha256": "0" * 64, "issued_at": now}
                for k, oid in enumerate(paid)
            ),
        )  # fmt: skip
        leads = [
            {"contact_id": (i % n_contacts) + 1, "conversation_id": f"s-{i}",
             "kind": rnd.choice(["callback", "handoff", "high_intent", "sensitive"]),
             "priority": "normal", "status": rnd.choice(overview.LEAD_STAGES),
             "created_at": when(), "updated_at": now}
            for i in range(n_leads)
        ]  # fmt: skip
        for lead in leads:  # SLA 1-24 h after the lead came in
            lead["sla_due_at"] = lead["created_at"] + timedelta(hours=rnd.choice([1, 4, 24]))
        _bulk(conn, Lead.__table__, leads)
        # A first human reply (-> contacted) 5 min to 30 h after it came in, for leads past `new`
        # and `assigned`: the response-time chart's rows.
        _bulk(
            conn,
            LeadActivity.__table__,
            (
                {"lead_id": i + 1, "action": "contacted", "from_status": "assigned",
                 "to_status": "contacted", "detail": {},
                 "created_at": lead["created_at"] + timedelta(minutes=rnd.uniform(5, 1800))}
                for i, lead in enumerate(leads)
                if lead["status"] in ("contacted", "closed")
            ),
        )  # fmt: skip
        _bulk(
            conn,
            FollowUp.__table__,
            (
                {"contact_id": (i % n_contacts) + 1, "channel": "email", "template": "t",
                 "purpose": "marketing", "due_at": when(3) + timedelta(days=2),
                 "status": "scheduled", "created_at": now}
                for i in range(n_leads // 2)
            ),
        )  # fmt: skip
        _bulk(
            conn,
            LedgerEntry.__table__,
            (
                {"seq": i + 1, "entity_type": "receipt", "entity_id": str(i), "action": "issued",
                 "record_hash": f"{i:064x}", "prev_hash": f"{i:064x}",
                 "entry_hash": f"{i + 1:064x}", "created_at": now.isoformat()}
                for i in range(n_ledger)
            ),
        )  # fmt: skip
        conn.execute(
            insert(JobRun.__table__),
            {"job": "audit_verify", "status": "ok", "started_at": now, "finished_at": now,
             "counts": {"ledger_entries": n_ledger, "verified.consent": n_chats,
                        "verified.receipt": len(paid), "verified.invoice": len(paid)}},
        )  # fmt: skip
    return {
        "ledger_entries": n_ledger,
        "orders": n_orders,
        "paid_orders": len(paid),
        "chats": n_chats,
        "consents": n_chats,
        "leads": n_leads,
    }


def timed(fn, repeat: int = 5) -> dict:
    fn()  # warm the caches once
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return {"median_ms": round(statistics.median(samples), 1), "max_ms": round(max(samples), 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/executive_overview.json"))
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    url = args.database_url or f"sqlite:///{tmp}/overview.db"
    engine = make_engine(url)
    migrations.upgrade(engine)
    start = time.perf_counter()
    sizes = generate(engine, scale=args.scale)
    generate_s = round(time.perf_counter() - start, 1)
    if engine.dialect.name == "sqlite":  # as after normal use: the bulk load's WAL checkpointed
        raw = engine.raw_connection()  # outside a transaction (the engine BEGINs IMMEDIATE)
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
    factory = make_session_factory(engine)

    def figures(days: int):
        def run():
            with session_scope(factory) as s:
                return overview.executive(s, now=utcnow(), days=days)

        return run

    def response_times(days: int):
        def run():
            with session_scope(factory) as s:
                period = overview.Period(end=utcnow(), days=days)
                return overview.response_times(s, now=utcnow(), period=period)

        return run

    results = {
        "30_days": timed(figures(30)),
        "365_days": timed(figures(365)),
        # the SLA chart's query alone (part of the figures above)
        "response_times_365_days": timed(response_times(365)),
    }
    settings = load_settings(
        {"DATABASE_URL": url, "SESSION_SECRET": "bench-" + "x" * 32}, dotenv=False
    )
    with session_scope(factory) as s:
        staff = auth.create_staff(
            s, email="exec@shop.example", name="Exec", role="executive", password="bench pass 123"
        )
        key = auth.issue_api_key(s, staff_id=staff.id)
    with TestClient(create_app(settings, factory)) as client:
        headers = {"Authorization": f"Bearer {key}"}

        def page():
            response = client.get("/dashboard/executive?days=30", headers=headers)
            assert response.status_code == 200

        results["page_30_days"] = timed(page)
    report = {
        "benchmark": "executive_overview",
        "database": engine.dialect.name,
        "cpu_count": os.cpu_count(),
        "data": sizes,
        "generate_s": generate_s,
        "results": results,
        "target": "overview < 1000 ms",
        "note": "2 shared cores: other work ran during the run; medians of 5 after a warm-up",
    }
    print(json.dumps(report, indent=2))
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
