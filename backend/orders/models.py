"""Orders, invoices, payments, receipts and refunds. Money is integer minor units."""

from __future__ import annotations

import uuid

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)

from backend.db import Base, utcnow


class Order(Base):
    __tablename__ = "orders"
    # The overview's period scans (orders per day, the funnel's checkout/paid chats) read only
    # these columns: covering indexes answer them without visiting the table.
    __table_args__ = (
        Index("ix_orders_period", "created_at", "conversation_id", "status"),
        Index("ix_orders_paid_period", "status", "created_at", "conversation_id"),
        # a chat's orders; the funnel_chats triggers' latest row per chat and step
        Index("ix_orders_chat", "conversation_id", "status", "created_at"),
    )

    id = Column(Integer, primary_key=True)
    public_id = Column(String(36), unique=True, nullable=False, default=lambda: str(uuid.uuid4()))
    contact_id = Column(Integer, ForeignKey("contacts.id"), index=True)
    conversation_id = Column(String(128))
    email = Column(String(320))
    # pending_payment | paid | cancelled | expired | refunded | partially_refunded
    status = Column(String(30), nullable=False, default="pending_payment")
    currency = Column(String(3), nullable=False)
    subtotal_minor = Column(Integer, nullable=False)
    tax_minor = Column(Integer, nullable=False, default=0)
    total_minor = Column(Integer, nullable=False)
    refunded_minor = Column(Integer, nullable=False, default=0)
    payment_provider = Column(String(20))
    payment_ref = Column(String(200), index=True)  # e.g. Stripe Checkout Session id
    payment_url = Column(String(1000))
    expires_at = Column(DateTime(timezone=True))
    # Abandoned checkout (orders_0004): the provider's own recovery page (Stripe Checkout's
    # after_expiration.recovery), and the order this one re-opened from a reminder link.
    recovery_url = Column(String(1000))
    recovered_from_id = Column(Integer, ForeignKey("orders.id"))
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow)


class OrderItem(Base):
    __tablename__ = "order_items"

    id = Column(Integer, primary_key=True)
    order_id = Column(
        Integer, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True
    )
    product_id = Column(Integer, ForeignKey("products.id"))  # None for a bundle line
    sku = Column(String(200), nullable=False)  # a bundle line: its products' skus joined by +
    name = Column(String(200), nullable=False)
    unit_price_minor = Column(Integer, nullable=False)
    quantity = Column(Integer, nullable=False)
    line_total_minor = Column(Integer, nullable=False)
    # A bundle line: [{"product_id", "sku", "quantity"}] per unit of the line (orders_0004);
    # stock is reserved and released for each component.
    components = Column(JSON)


class Cart(Base):
    """The chat's cart, one per conversation, in the database (restarts and several workers
    see the same one)."""

    __tablename__ = "carts"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(128), unique=True, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow)


class CartLine(Base):
    __tablename__ = "cart_lines"
    __table_args__ = (UniqueConstraint("cart_id", "item", name="uq_cart_line_item"),)

    id = Column(Integer, primary_key=True)
    cart_id = Column(
        Integer, ForeignKey("carts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    item = Column(String(200), nullable=False)  # a product sku or "bundle:SKU1+SKU2"
    quantity = Column(Integer, nullable=False)
    added_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class InvoiceCounter(Base):
    """Gap-free sequence per year: incremented in the invoice's own transaction."""

    __tablename__ = "invoice_counters"

    year = Column(Integer, primary_key=True)
    last_seq = Column(Integer, nullable=False, default=0)


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("year", "seq", name="uq_invoice_year_seq"),)

    id = Column(Integer, primary_key=True)
    number = Column(String(30), unique=True, nullable=False)  # INV-2026-000123
    year = Column(Integer, nullable=False)
    seq = Column(Integer, nullable=False)
    order_id = Column(Integer, ForeignKey("orders.id"), unique=True, nullable=False)
    pdf = Column(LargeBinary, nullable=False)
    sha256 = Column(String(64), nullable=False)
    render_context = Column(JSON)  # seller details at issue time, for re-rendering (orders_0002)
    issued_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class Payment(Base):
    __tablename__ = "payments"
    # revenue and revenue per day of the overview, answered from the index alone
    __table_args__ = (
        Index("ix_payments_period", "created_at", "status", "currency", "amount_minor"),
    )

    id = Column(Integer, primary_key=True)
    order_id = Column(Integer, ForeignKey("orders.id"), nullable=False, index=True)
    provider = Column(String(20), nullable=False)  # stripe | sandbox
    provider_ref = Column(String(200), unique=True, nullable=False)
    amount_minor = Column(Integer, nullable=False)
    currency = Column(String(3), nullable=False)
    status = Column(String(20), nullable=False)  # succeeded | failed
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class Receipt(Base):
    __tablename__ = "receipts"

    id = Column(Integer, primary_key=True)
    number = Column(String(30), unique=True, nullable=False)
    order_id = Column(Integer, ForeignKey("orders.id"), unique=True, nullable=False)
    payment_id = Column(Integer, ForeignKey("payments.id"), nullable=False)
    pdf = Column(LargeBinary, nullable=False)
    sha256 = Column(String(64), nullable=False)
    render_context = Column(JSON)  # seller details at issue time, for re-rendering (orders_0002)
    issued_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class CreditNote(Base):
    __tablename__ = "credit_notes"

    id = Column(Integer, primary_key=True)
    number = Column(String(30), unique=True, nullable=False)
    order_id = Column(Integer, ForeignKey("orders.id"), nullable=False, index=True)
    amount_minor = Column(Integer, nullable=False)
    reason = Column(Text)
    provider_ref = Column(String(200), unique=True)
    pdf = Column(LargeBinary, nullable=False)
    sha256 = Column(String(64), nullable=False)
    render_context = Column(JSON)  # seller details at issue time, for re-rendering (orders_0002)
    issued_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class ProcessedWebhookEvent(Base):
    """Idempotency: a provider event id is handled once."""

    __tablename__ = "processed_webhook_events"
    __table_args__ = (UniqueConstraint("provider", "event_id", name="uq_webhook_event"),)

    id = Column(Integer, primary_key=True)
    provider = Column(String(20), nullable=False)
    event_id = Column(String(200), nullable=False)
    event_type = Column(String(80), nullable=False)
    received_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class PaymentDispute(Base):
    """A chargeback on an order's payment (Stripe charge.dispute.*): one row per dispute,
    updated as the provider reports it; money movements are also ledger entries."""

    __tablename__ = "payment_disputes"

    id = Column(Integer, primary_key=True)
    order_id = Column(Integer, ForeignKey("orders.id"), nullable=False, index=True)
    provider = Column(String(20), nullable=False)
    provider_ref = Column(String(200), unique=True, nullable=False)  # Stripe: dp_...
    payment_ref = Column(String(200))
    amount_minor = Column(Integer, nullable=False)
    currency = Column(String(3), nullable=False)
    reason = Column(String(60))
    status = Column(String(40), nullable=False)  # provider's status: needs_response, won, lost...
    opened_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    closed_at = Column(DateTime(timezone=True))
