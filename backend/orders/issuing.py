"""Issue invoices, receipts and credit notes: number, PDF, SHA-256 and ledger entry together.

Everything here runs in the caller's transaction. Invoice numbers come from InvoiceCounter,
incremented in that same transaction, so a rolled-back payment leaves no gap. A receipt and its
invoice share the sequence number (INV-2026-000123 / RCT-2026-000123).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from backend import ledger
from backend.config import Settings
from backend.orders.documents import LAYOUT, DocLine, DocumentData, render_pdf
from backend.orders.models import (
    CreditNote,
    Invoice,
    InvoiceCounter,
    Order,
    OrderItem,
    Payment,
    Receipt,
)
from backend.orders.records import (
    CREDIT_NOTE,
    INVOICE,
    RECEIPT,
    credit_note_record,
    invoice_record,
    receipt_record,
)


def seller_context(settings: Settings) -> dict:
    return {
        "name": settings.shop_name,
        "address": settings.shop_address,
        "tax_id": settings.shop_tax_id,
        "tax_rate_percent": settings.tax_rate_percent,
        "layout": LAYOUT,  # how it is drawn (documents.py), so a re-render matches
    }


def next_invoice_seq(session: Session, year: int) -> int:
    """Take the next number of `year` (row-locked on Postgres by the UPDATE until commit)."""
    bumped = session.execute(
        update(InvoiceCounter)
        .where(InvoiceCounter.year == year)
        .values(last_seq=InvoiceCounter.last_seq + 1)
    )
    if bumped.rowcount == 0:
        _insert_counter(session, year)
        session.execute(
            update(InvoiceCounter)
            .where(InvoiceCounter.year == year)
            .values(last_seq=InvoiceCounter.last_seq + 1)
        )
    return session.execute(
        select(InvoiceCounter.last_seq).where(InvoiceCounter.year == year)
    ).scalar_one()


def _insert_counter(session: Session, year: int) -> None:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(insert(InvoiceCounter).values(year=year, last_seq=0).on_conflict_do_nothing())


def _lines(items: list[OrderItem]) -> tuple[DocLine, ...]:
    return tuple(
        DocLine(i.name, i.sku, i.quantity, i.unit_price_minor, i.line_total_minor)
        for i in sorted(items, key=lambda i: i.id)
    )


def invoice_document(invoice: Invoice, order: Order, items: list[OrderItem]) -> DocumentData:
    return DocumentData(
        kind="Invoice",
        number=invoice.number,
        issued_at=invoice.issued_at,
        order_public_id=order.public_id,
        currency=order.currency,
        lines=_lines(items),
        subtotal_minor=order.subtotal_minor,
        tax_minor=order.tax_minor,
        total_minor=order.total_minor,
        seller=invoice.render_context or {},
    )


def receipt_document(
    receipt: Receipt, invoice: Invoice, order: Order, items: list[OrderItem], payment: Payment
) -> DocumentData:
    """The invoice's content, as a receipt: its own number, date and seller snapshot."""
    return replace(
        invoice_document(invoice, order, items),
        kind="Receipt",
        number=receipt.number,
        issued_at=receipt.issued_at,
        seller=receipt.render_context or {},
        references=(
            ("Invoice", invoice.number),
            ("Paid with", f"{payment.provider} {payment.provider_ref}"),
        ),
        note="Paid in full. Thank you for your order.",
    )


def credit_note_document(note: CreditNote, invoice: Invoice, order: Order) -> DocumentData:
    tax_part = (
        (note.amount_minor * order.tax_minor * 2 + order.total_minor) // (2 * order.total_minor)
        if order.total_minor
        else 0
    )  # proportional tax, rounded half up
    return DocumentData(
        kind="Credit note",
        number=note.number,
        issued_at=note.issued_at,
        order_public_id=order.public_id,
        currency=order.currency,
        lines=(
            DocLine(
                f"Refund against {invoice.number}",
                "REFUND",
                1,
                note.amount_minor - tax_part,
                note.amount_minor - tax_part,
            ),
        ),
        subtotal_minor=note.amount_minor - tax_part,
        tax_minor=tax_part,
        total_minor=note.amount_minor,
        seller=note.render_context or {},
        references=(("Invoice", invoice.number), ("Refund reference", note.provider_ref or "")),
        note=f"Reason: {note.reason or 'not given'}",
    )


def _now() -> datetime:
    # whole seconds: the PDF shows the time, and every database stores seconds exactly
    return datetime.now(timezone.utc).replace(microsecond=0)


def issue_invoice(
    session: Session,
    *,
    settings: Settings,
    order: Order,
    items: list[OrderItem],
    now: datetime | None = None,
) -> Invoice:
    issued = now or _now()
    seq = next_invoice_seq(session, issued.year)
    invoice = Invoice(
        number=f"INV-{issued.year}-{seq:06d}",
        year=issued.year,
        seq=seq,
        order_id=order.id,
        issued_at=issued,
        render_context=seller_context(settings),
        pdf=b"",
        sha256="",
    )
    return _seal(
        session,
        invoice,
        pdf=render_pdf(invoice_document(invoice, order, items)),
        entity_type=INVOICE,
        record=lambda: invoice_record(invoice, order),
    )


def issue_receipt(
    session: Session,
    *,
    settings: Settings,
    order: Order,
    items: list[OrderItem],
    invoice: Invoice,
    payment: Payment,
    now: datetime | None = None,
) -> Receipt:
    issued = now or invoice.issued_at
    receipt = Receipt(
        number=invoice.number.replace("INV-", "RCT-", 1),
        order_id=order.id,
        payment_id=payment.id,
        issued_at=issued,
        render_context=seller_context(settings),
        pdf=b"",
        sha256="",
    )
    return _seal(
        session,
        receipt,
        pdf=render_pdf(receipt_document(receipt, invoice, order, items, payment)),
        entity_type=RECEIPT,
        record=lambda: receipt_record(receipt, order),
    )


def issue_credit_note(
    session: Session,
    *,
    settings: Settings,
    order: Order,
    invoice: Invoice,
    amount_minor: int,
    provider_ref: str | None,
    reason: str | None,
    now: datetime | None = None,
) -> CreditNote:
    issued = now or _now()
    count, credited = session.execute(
        select(
            func.count(CreditNote.id), func.coalesce(func.sum(CreditNote.amount_minor), 0)
        ).where(CreditNote.order_id == order.id)
    ).one()
    if not 0 < amount_minor <= order.total_minor - credited:
        # The last guard: credit notes never add up to more than the invoice.
        raise ValueError("a credit note must be positive and within what the invoice has left")
    note = CreditNote(
        number=f"CN-{invoice.number.removeprefix('INV-')}-{count + 1:02d}",
        order_id=order.id,
        amount_minor=amount_minor,
        reason=reason,
        provider_ref=provider_ref,
        issued_at=issued,
        render_context=seller_context(settings),
        pdf=b"",
        sha256="",
    )
    return _seal(
        session,
        note,
        pdf=render_pdf(credit_note_document(note, invoice, order)),
        entity_type=CREDIT_NOTE,
        record=lambda: credit_note_record(note, order),
    )


def _seal(session: Session, document, *, pdf: bytes, entity_type: str, record) -> object:
    """Store a document's PDF and hash and append its ledger entry, in the caller's transaction."""
    document.pdf = pdf
    document.sha256 = ledger.sha256_hex(pdf)
    session.add(document)
    session.flush()
    ledger.append(
        session,
        entity_type=entity_type,
        entity_id=document.number,
        action="issued",
        record=record(),
    )
    return document
