"""Reads behind the admin API and pages: inventory with missed demand, orders with their
receipt checked against the ledger, the outbox by kind. Plain dicts out (HTML and JSON share
them); aggregates in SQL; no customer personal data (emails, phones, names, payloads).
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from backend.catalog.models import Product
from backend.db import aware
from backend.logging_setup import redact_text
from backend.money import format_minor
from backend.orders.audit import verify_receipt_file
from backend.orders.models import CreditNote, Invoice, Order, OrderItem, Payment, Receipt
from backend.outbox.models import OutboxMessage
from backend.trends.models import Trend, TrendMatch
from backend.trends.recommend import LOW_STOCK_THRESHOLD, TREND_WINDOW

ORDER_STATUSES = (
    "pending_payment",
    "paid",
    "partially_refunded",
    "refunded",
    "cancelled",
    "expired",
)
OUTBOX_STATUSES = ("pending", "sending", "sent", "blocked", "dead")
OUTBOX_LISTED = ("pending", "dead", "blocked")  # what needs a look; sent rows are history


def iso(value: datetime | None) -> str | None:
    """UTC ISO-8601 to the second (SQLite hands back naive UTC datetimes)."""
    return aware(value).astimezone(timezone.utc).isoformat(timespec="seconds") if value else None


# --- catalog / inventory -----------------------------------------------------------------------
def inventory(session: Session, *, now: datetime) -> dict:
    """Every active product with its stock status and current trend demand; missed demand =
    out of stock while a trend of the last TREND_WINDOW matches it."""
    recent = (
        select(
            TrendMatch.product_id.label("product_id"),
            func.count(func.distinct(TrendMatch.trend_id)).label("trends"),
            func.max(TrendMatch.score).label("best"),
        )
        .join(Trend, Trend.id == TrendMatch.trend_id)
        .where(Trend.fetched_at >= now - TREND_WINDOW)
        .group_by(TrendMatch.product_id)
        .subquery()
    )
    rows = session.execute(
        select(Product, recent.c.trends, recent.c.best)
        .outerjoin(recent, recent.c.product_id == Product.id)
        .where(Product.active.is_(True))
        .order_by(Product.stock > 0, Product.stock, Product.sku)
    ).all()
    products = []
    for product, trends, best in rows:
        status = (
            "out_of_stock"
            if product.stock <= 0
            else "low_stock"
            if product.stock <= LOW_STOCK_THRESHOLD
            else "in_stock"
        )
        products.append(
            {
                "sku": product.sku,
                "name": product.name,
                "category": product.category,
                "price": format_minor(product.price_minor, product.currency),
                "stock": product.stock,
                "stock_status": status,
                "trending": int(trends or 0),
                "best_trend_score": round(best, 4) if best is not None else None,
                "missed_demand": status == "out_of_stock" and bool(trends),
            }
        )
    return {
        "low_stock_threshold": LOW_STOCK_THRESHOLD,
        "trend_window_days": TREND_WINDOW.days,
        "totals": {
            "products": len(products),
            "in_stock": sum(p["stock_status"] == "in_stock" for p in products),
            "low_stock": sum(p["stock_status"] == "low_stock" for p in products),
            "out_of_stock": sum(p["stock_status"] == "out_of_stock" for p in products),
            "missed_demand": sum(p["missed_demand"] for p in products),
        },
        "products": products,
    }


# --- orders -----------------------------------------------------------------------------------
def receipt_verified(session: Session, *, order: Order) -> bool | None:
    """True when the stored receipt PDF hashes to its ledger entry; None without a receipt."""
    pdf = session.execute(
        select(Receipt.pdf).where(Receipt.order_id == order.id)
    ).scalar_one_or_none()
    if pdf is None:
        return None
    return verify_receipt_file(session, order_or_number=order.public_id, data=pdf).matches


def _order_row(session: Session, order: Order, receipt_number: str | None) -> dict:
    return {
        "id": order.id,
        "public_id": order.public_id,
        "status": order.status,
        "currency": order.currency,
        "total_minor": order.total_minor,
        "total": format_minor(order.total_minor, order.currency),
        "refunded_minor": order.refunded_minor,
        "payment_provider": order.payment_provider,
        "created_at": iso(order.created_at),
        "receipt_number": receipt_number,
        "receipt_verified": receipt_verified(session, order=order) if receipt_number else None,
        "receipt_url": f"/api/orders/{order.public_id}/receipt.pdf" if receipt_number else None,
    }


def list_orders(
    session: Session, *, status: str | None = None, offset: int = 0, limit: int = 50
) -> dict:
    """A page of orders, newest first, each with its receipt checked against the ledger."""
    where = [Order.status == status] if status else []
    total = session.execute(select(func.count(Order.id)).where(*where)).scalar_one()
    rows = session.execute(
        select(Order, Receipt.number)
        .outerjoin(Receipt, Receipt.order_id == Order.id)
        .where(*where)
        .order_by(Order.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    by_status = dict(
        session.execute(select(Order.status, func.count()).group_by(Order.status)).all()
    )
    return {
        "total": total,
        "offset": offset,
        "limit": limit,
        "by_status": {s: by_status.get(s, 0) for s in ORDER_STATUSES},
        "orders": [_order_row(session, order, number) for order, number in rows],
    }


def order_detail(session: Session, *, order_id: int) -> dict | None:
    """One order: items, payments, invoice, receipt (verified or not), credit notes."""
    row = session.execute(
        select(Order, Receipt.number)
        .outerjoin(Receipt, Receipt.order_id == Order.id)
        .where(Order.id == order_id)
    ).first()
    if row is None:
        return None
    order, number = row
    items = session.execute(
        select(OrderItem).where(OrderItem.order_id == order.id).order_by(OrderItem.id)
    ).scalars()
    payments = session.execute(
        select(Payment).where(Payment.order_id == order.id).order_by(Payment.id)
    ).scalars()
    notes = session.execute(
        select(CreditNote).where(CreditNote.order_id == order.id).order_by(CreditNote.id)
    ).scalars()
    invoice = session.execute(
        select(Invoice.number).where(Invoice.order_id == order.id)
    ).scalar_one_or_none()
    money = lambda minor: format_minor(minor, order.currency)  # noqa: E731
    return {
        **_order_row(session, order, number),
        "subtotal_minor": order.subtotal_minor,
        "tax_minor": order.tax_minor,
        "invoice_number": invoice,
        "items": [
            {
                "sku": i.sku,
                "name": i.name,
                "quantity": i.quantity,
                "unit_price": money(i.unit_price_minor),
                "line_total_minor": i.line_total_minor,
            }
            for i in items
        ],
        "payments": [
            {
                "provider": p.provider,
                "status": p.status,
                "amount_minor": p.amount_minor,
                "amount": money(p.amount_minor),
                "created_at": iso(p.created_at),
            }
            for p in payments
        ],
        "credit_notes": [
            {
                "number": n.number,
                "amount_minor": n.amount_minor,
                "amount": money(n.amount_minor),
                "issued_at": iso(n.issued_at),
            }
            for n in notes
        ],
    }


# --- outbox -----------------------------------------------------------------------------------
def safe_error(text: str | None) -> str | None:
    """The stored error, with any email, phone or token masked (already redacted when written;
    masked again here because a provider's message may quote an address)."""
    return redact_text(text)[:300] if text else None


def outbox_overview(
    session: Session, *, status: str | None = None, kind: str | None = None, limit: int = 50
) -> dict:
    """Counts per kind and status, and the latest rows that need a look (no recipient, no
    payload: kind, topic, status, attempts, when, the error)."""
    counts = session.execute(
        select(
            OutboxMessage.kind,
            *[func.sum(case((OutboxMessage.status == s, 1), else_=0)) for s in OUTBOX_STATUSES],
        ).group_by(OutboxMessage.kind)
    ).all()
    by_kind = [
        {"kind": kind, **{s: int(n or 0) for s, n in zip(OUTBOX_STATUSES, ns, strict=True)}}
        for kind, *ns in sorted(counts)
    ]
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    query = query.where(OutboxMessage.status.in_((status,) if status else OUTBOX_LISTED))
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    return {
        "by_kind": by_kind,
        "messages": [outbox_row(m) for m in session.execute(query).scalars()],
    }


def outbox_row(message: OutboxMessage) -> dict:
    return {
        "id": message.id,
        "kind": message.kind,
        "topic": message.topic,
        "status": message.status,
        "attempts": message.attempts,
        "next_attempt_at": iso(message.next_attempt_at),
        "created_at": iso(message.created_at),
        "last_error": safe_error(message.last_error),
    }
