"""Canonical ledger records of invoices, receipts and credit notes (audit recomputes these).

Each record names its document and the SHA-256 of the PDF bytes, so the ledger covers the
exact document the customer got. Entity ids in the ledger are the document numbers.
"""

from __future__ import annotations

INVOICE, RECEIPT, CREDIT_NOTE, CONSENT = "invoice", "receipt", "credit_note", "consent"
DOCUMENT_ENTITIES = (INVOICE, RECEIPT, CREDIT_NOTE)


def invoice_record(invoice, order) -> dict:
    return {
        "number": invoice.number,
        "order_public_id": order.public_id,
        "subtotal_minor": order.subtotal_minor,
        "tax_minor": order.tax_minor,
        "total_minor": order.total_minor,
        "currency": order.currency,
        "sha256": invoice.sha256,
    }


def receipt_record(receipt, order) -> dict:
    return {
        "number": receipt.number,
        "order_public_id": order.public_id,
        "total_minor": order.total_minor,
        "currency": order.currency,
        "sha256": receipt.sha256,
    }


def credit_note_record(note, order) -> dict:
    return {
        "number": note.number,
        "order_public_id": order.public_id,
        "amount_minor": note.amount_minor,
        "currency": order.currency,
        "sha256": note.sha256,
    }
