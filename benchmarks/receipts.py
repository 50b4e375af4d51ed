"""Receipt issuing: deterministic PDF + SHA-256 + ledger entry, one committed transaction each.

Pinned to one CPU core. Orders, items, payments and invoices are inserted up front; the timed
loop is exactly what a payment does for its receipt (`issuing.issue_receipt` + commit). A second,
smaller run times the whole payment path (payment + invoice + receipt, two PDFs, two ledger
entries) through `service.handle_payment_event`.
Results: benchmarks/results/receipts.json   Target: >= 300 receipts/s on one core.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402
from sqlalchemy.pool import QueuePool  # noqa: E402

from backend import migrations  # noqa: E402
from backend.catalog.models import Product  # noqa: E402
from backend.config import load_settings  # noqa: E402
from backend.db import make_engine, make_session_factory  # noqa: E402
from backend.orders import issuing, service  # noqa: E402
from backend.orders.models import Invoice, InvoiceCounter, Order, OrderItem, Payment  # noqa: E402

TARGET = 300


def seed(factory, settings, count: int, *, with_invoice: bool) -> list[int]:
    with factory() as session:
        product = Product(
            sku="BENCH-1", name="Diabetes Care Pack", category="packs", price_minor=2999, stock=0
        )
        session.add(product)
        session.flush()
        ids = []
        for n in range(count):
            order = Order(
                public_id=str(uuid.uuid4()),
                status="paid" if with_invoice else "pending_payment",
                currency="USD",
                subtotal_minor=5998,
                tax_minor=495,
                total_minor=6493,
                payment_provider="sandbox",
            )
            session.add(order)
            session.flush()
            session.add(
                OrderItem(
                    order_id=order.id,
                    product_id=product.id,
                    sku="BENCH-1",
                    name=product.name,
                    unit_price_minor=2999,
                    quantity=2,
                    line_total_minor=5998,
                )
            )
            if with_invoice:
                session.add(
                    Payment(
                        order_id=order.id,
                        provider="sandbox",
                        provider_ref=f"pi_{order.public_id}",
                        amount_minor=6493,
                        currency="USD",
                        status="succeeded",
                    )
                )
                session.add(
                    Invoice(
                        number=f"INV-2026-{n + 1:06d}",
                        year=2026,
                        seq=n + 1,
                        order_id=order.id,
                        issued_at=datetime(2026, 5, 1, 12, 0, 0, tzinfo=timezone.utc),
                        pdf=b"",
                        sha256="",
                        render_context=issuing.seller_context(settings),
                    )
                )
            ids.append(order.id)
        if with_invoice:
            session.add(InvoiceCounter(year=2026, last_seq=count))
        session.commit()
        return ids


def bench_receipts(factory, settings, count: int) -> tuple[float, float]:
    ids = seed(factory, settings, count, with_invoice=True)
    started, cpu = time.perf_counter(), time.process_time()
    for order_id in ids:
        with factory() as session:
            order, invoice, payment = session.execute(
                select(Order, Invoice, Payment)
                .join(Invoice, Invoice.order_id == Order.id)
                .join(Payment, Payment.order_id == Order.id)
                .where(Order.id == order_id)
            ).one()
            items = (
                session.execute(select(OrderItem).where(OrderItem.order_id == order_id))
                .scalars()
                .all()
            )
            issuing.issue_receipt(
                session,
                settings=settings,
                order=order,
                items=items,
                invoice=invoice,
                payment=payment,
            )
            session.commit()
    return count / (time.perf_counter() - started), count / (time.process_time() - cpu)


def bench_payments(factory, settings, count: int) -> tuple[float, float]:
    with factory() as session:
        orders = [
            o.public_id
            for o in session.execute(
                select(Order).where(Order.status == "pending_payment")
            ).scalars()
        ][:count]
    started, cpu = time.perf_counter(), time.process_time()
    for public_id in orders:
        with factory() as session:
            service.handle_payment_event(
                session,
                settings=settings,
                event=service.PaymentEvent(
                    provider="sandbox",
                    event_id=f"evt_{public_id}",
                    kind="completed",
                    order_public_id=public_id,
                    payment_ref=f"pi_pay_{public_id}",
                    amount_minor=6493,
                    currency="USD",
                ),
            )
            session.commit()
    return len(orders) / (time.perf_counter() - started), len(orders) / (time.process_time() - cpu)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--receipts", type=int, default=1500)
    parser.add_argument("--payments", type=int, default=500)
    parser.add_argument("--database-url", help="default: a fresh SQLite file (WAL) in a temp dir")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    tmp = tempfile.mkdtemp(prefix="bench-receipts-")
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    settings = load_settings({"DATABASE_URL": url, "TAX_RATE_PERCENT": "8.25"}, dotenv=False)
    # A pooled engine: SQLAlchemy 1.4 gives file SQLite a NullPool, and closing the last
    # connection checkpoints the WAL (an fsync) on every request.
    engine = make_engine(url, poolclass=QueuePool) if url.startswith("sqlite") else make_engine(url)
    migrations.upgrade(engine)
    factory = make_session_factory(engine)
    receipts_per_s, receipts_cpu = bench_receipts(factory, settings, args.receipts)
    with factory() as session:  # second run: fresh pending orders for the whole payment path
        session.execute(Product.__table__.update().values(sku="BENCH-OLD"))
        session.commit()
    seed(factory, settings, args.payments, with_invoice=False)
    payments_per_s, payments_cpu = bench_payments(factory, settings, args.payments)
    result = {
        "benchmark": "receipts",
        "database": engine.dialect.name,
        "cores": 1,
        "receipts": args.receipts,
        "receipts_per_s": round(receipts_per_s, 1),
        "receipts_per_cpu_s": round(receipts_cpu, 1),
        "target_receipts_per_s": TARGET,
        "meets_target": receipts_per_s >= TARGET,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "full_payments": args.payments,
        "full_payment_path_per_s": round(payments_per_s, 1),
        "full_payment_path_per_cpu_s": round(payments_cpu, 1),
        "note": "receipt = PDF render + sha256 + ledger append + commit; full payment path = "
        "payment row + invoice (counter, PDF, ledger) + receipt (PDF, ledger) + commit",
    }
    out = ROOT / "benchmarks" / "results" / "receipts.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
