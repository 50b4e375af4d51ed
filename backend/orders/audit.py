"""The auditor's tools: verify the ledger and every document/consent against it, check a file a
customer sends back, export everything read-only.

`verify_all` reads only; `open_incidents` records its mismatches (the CLI runs them in two
transactions so the long read does not hold the write lock on SQLite).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import ledger
from backend.contacts.models import ConsentEvent
from backend.contacts.records import consent_record
from backend.incidents import Incident, raise_incident
from backend.orders import issuing
from backend.orders.documents import render_pdf
from backend.orders.models import CreditNote, Invoice, Order, OrderItem, Payment, Receipt
from backend.orders.records import (
    CONSENT,
    CREDIT_NOTE,
    INVOICE,
    RECEIPT,
    credit_note_record,
    invoice_record,
    receipt_record,
)

AUDITED = (INVOICE, RECEIPT, CREDIT_NOTE, CONSENT)


@dataclass(frozen=True)
class Mismatch:
    entity_type: str
    entity_id: str
    problem: str
    ledger_hash: str
    computed_hash: str


@dataclass
class AuditReport:
    ledger_entries: int = 0
    verified: dict[str, int] = field(default_factory=lambda: dict.fromkeys(AUDITED, 0))
    mismatches: list[Mismatch] = field(default_factory=list)
    generated_at: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds")
    )

    @property
    def ok(self) -> bool:
        return not self.mismatches


def _latest_record_hashes(session: Session) -> dict[tuple[str, str], str]:
    """The last ledger record hash of every audited entity (later entries win)."""
    rows = session.execute(
        select(
            ledger.LedgerEntry.entity_type,
            ledger.LedgerEntry.entity_id,
            ledger.LedgerEntry.record_hash,
        )
        .where(ledger.LedgerEntry.entity_type.in_(AUDITED))
        .order_by(ledger.LedgerEntry.seq)
    )
    return {(etype, eid): rhash for etype, eid, rhash in rows}


def verify_all(session: Session) -> AuditReport:
    """Chain check, re-render/re-hash of every invoice, receipt, credit note and consent."""
    report = AuditReport()
    chain = ledger.verify(session)
    latest = _latest_record_hashes(session)
    report.ledger_entries = chain.checked
    for p in chain.problems:
        report.mismatches.append(
            Mismatch(
                p.entity_type,
                p.entity_id,
                f"ledger entry seq {p.seq}: {p.problem}",
                p.stored_hash,
                p.computed_hash,
            )
        )
    seen: set[tuple[str, str]] = set()
    for entity_type, entity_id, problems in _documents(session, latest):
        seen.add((entity_type, entity_id))
        report.mismatches.extend(problems)
        if not problems:
            report.verified[entity_type] += 1
    for event in session.execute(select(ConsentEvent).order_by(ConsentEvent.id)).scalars():
        key = (CONSENT, str(event.id))
        seen.add(key)
        problems = _compare(CONSENT, str(event.id), latest.get(key), consent_record(event))
        report.mismatches.extend(problems)
        if not problems:
            report.verified[CONSENT] += 1
    for (entity_type, entity_id), rhash in latest.items():
        if (entity_type, entity_id) not in seen:
            report.mismatches.append(
                Mismatch(
                    entity_type, entity_id, "ledger entry without its record (deleted?)", rhash, ""
                )
            )
    return report


def _compare(
    entity_type: str, entity_id: str, ledger_hash: str | None, record: dict
) -> list[Mismatch]:
    computed = ledger.record_hash(record)
    if ledger_hash is None:
        return [Mismatch(entity_type, entity_id, "no ledger entry for this record", "", computed)]
    if computed != ledger_hash:
        return [
            Mismatch(
                entity_type,
                entity_id,
                "record differs from its ledger entry",
                ledger_hash,
                computed,
            )
        ]
    return []


def _check_document(entity_type, doc, order, document, record_fn, latest) -> list[Mismatch]:
    rendered = ledger.sha256_hex(render_pdf(document))
    stored_bytes = ledger.sha256_hex(doc.pdf or b"")
    problems = []
    if stored_bytes != doc.sha256:
        problems.append(
            Mismatch(
                entity_type,
                doc.number,
                "stored PDF bytes differ from their hash",
                doc.sha256,
                stored_bytes,
            )
        )
    if rendered != doc.sha256:
        problems.append(
            Mismatch(
                entity_type,
                doc.number,
                "re-rendered PDF differs from the stored hash",
                doc.sha256,
                rendered,
            )
        )
    # the ledger covers the record as issued, i.e. with the hash of the PDF we can re-render
    record = record_fn(_WithSha(doc, rendered), order)
    return problems + _compare(
        entity_type, doc.number, latest.get((entity_type, doc.number)), record
    )


class _WithSha:
    """A document row seen with the hash of its re-rendered PDF (the record the ledger covers)."""

    def __init__(self, row, sha256: str):
        self._row, self.sha256 = row, sha256

    def __getattr__(self, name):
        return getattr(self._row, name)


def _documents(session: Session, latest: dict) -> Iterator[tuple[str, str, list[Mismatch]]]:
    orders = {
        o.id: o
        for o in session.execute(
            select(Order).join(Invoice, Invoice.order_id == Order.id)
        ).scalars()
    }
    items: dict[int, list[OrderItem]] = {}
    for item in session.execute(
        select(OrderItem).where(OrderItem.order_id.in_(select(Invoice.order_id)))
    ).scalars():
        items.setdefault(item.order_id, []).append(item)
    invoices = {}
    for inv in session.execute(select(Invoice).order_by(Invoice.id)).scalars():
        invoices[inv.order_id] = inv
        order = orders[inv.order_id]
        doc = issuing.invoice_document(inv, order, items.get(order.id, []))
        yield INVOICE, inv.number, _check_document(INVOICE, inv, order, doc, invoice_record, latest)
    payments = {p.id: p for p in session.execute(select(Payment)).scalars()}
    for rec in session.execute(select(Receipt).order_by(Receipt.id)).scalars():
        order, invoice = orders.get(rec.order_id), invoices.get(rec.order_id)
        if order is None or invoice is None or rec.payment_id not in payments:
            yield (
                RECEIPT,
                rec.number,
                [Mismatch(RECEIPT, rec.number, "order, invoice or payment missing", "", "")],
            )
            continue
        doc = issuing.receipt_document(
            rec, invoice, order, items.get(order.id, []), payments[rec.payment_id]
        )
        yield RECEIPT, rec.number, _check_document(RECEIPT, rec, order, doc, receipt_record, latest)
    for note in session.execute(select(CreditNote).order_by(CreditNote.id)).scalars():
        order, invoice = orders.get(note.order_id), invoices.get(note.order_id)
        if order is None or invoice is None:
            yield (
                CREDIT_NOTE,
                note.number,
                [Mismatch(CREDIT_NOTE, note.number, "order or invoice missing", "", "")],
            )
            continue
        doc = issuing.credit_note_document(note, invoice, order)
        yield (
            CREDIT_NOTE,
            note.number,
            _check_document(CREDIT_NOTE, note, order, doc, credit_note_record, latest),
        )


def open_incidents(session: Session, report: AuditReport) -> int:
    """One open Incident per mismatch (not duplicated while one is open); returns how many."""
    existing = {
        (i.entity_type, i.entity_id, (i.detail or {}).get("problem"))
        for i in session.execute(
            select(Incident).where(Incident.kind == "ledger_mismatch", Incident.status == "open")
        ).scalars()
    }
    opened = 0
    for m in report.mismatches:
        if (m.entity_type, m.entity_id, m.problem) in existing:
            continue
        existing.add((m.entity_type, m.entity_id, m.problem))
        raise_incident(
            session,
            Incident(
                kind="ledger_mismatch",
                severity="critical",
                entity_type=m.entity_type,
                entity_id=m.entity_id,
                detail={
                    "problem": m.problem,
                    "ledger_hash": m.ledger_hash,
                    "computed_hash": m.computed_hash,
                },
            ),
        )
        opened += 1
    session.flush()
    return opened


# --- reports --------------------------------------------------------------------------
def render_markdown(report: AuditReport) -> str:
    out = io.StringIO()
    out.write(f"# Audit report\n\nGenerated {report.generated_at}. Result: ")
    out.write(
        "**all verified**.\n\n" if report.ok else f"**{len(report.mismatches)} mismatch(es)**.\n\n"
    )
    out.write("| checked | verified |\n| --- | ---: |\n")
    chain_ok = report.ledger_entries - sum(
        1 for m in report.mismatches if m.problem.startswith("ledger entry seq")
    )
    out.write(f"| ledger entries (hash chain) | {chain_ok} of {report.ledger_entries} |\n")
    for entity_type, count in report.verified.items():
        out.write(f"| {entity_type.replace('_', ' ')}s | {count} |\n")
    if report.mismatches:
        out.write("\n## Mismatches\n\n| entity | id | problem | ledger hash | computed hash |\n")
        out.write("| --- | --- | --- | --- | --- |\n")
        for m in report.mismatches:
            out.write(
                f"| {m.entity_type} | {m.entity_id} | {m.problem} "
                f"| `{m.ledger_hash}` | `{m.computed_hash}` |\n"
            )
    return out.getvalue()


def render_csv(report: AuditReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["section", "entity_type", "entity_id", "problem", "ledger_hash", "computed_hash", "count"]
    )
    writer.writerow(["verified", "ledger_entry", "", "", "", "", report.ledger_entries])
    for entity_type, count in report.verified.items():
        writer.writerow(["verified", entity_type, "", "", "", "", count])
    for m in report.mismatches:
        writer.writerow(
            ["mismatch", m.entity_type, m.entity_id, m.problem, m.ledger_hash, m.computed_hash, ""]
        )
    return out.getvalue()


# --- a file sent back by a customer -------------------------------------------------------
@dataclass(frozen=True)
class FileCheck:
    matches: bool
    message: str
    file_hash: str


def verify_receipt_file(session: Session, *, order_or_number: str, data: bytes) -> FileCheck:
    """Is `data` exactly the receipt we issued (stored hash AND ledger record agree)?"""
    row = session.execute(
        select(Receipt, Order)
        .join(Order, Order.id == Receipt.order_id)
        .where((Order.public_id == order_or_number) | (Receipt.number == order_or_number))
    ).first()
    file_hash = ledger.sha256_hex(data)
    if row is None:
        return FileCheck(False, f"no receipt found for {order_or_number}", file_hash)
    receipt, order = row
    entry = ledger.latest_for(session, entity_type=RECEIPT, entity_id=receipt.number)
    in_ledger = entry is not None and entry.record_hash == ledger.record_hash(
        receipt_record(_WithSha(receipt, file_hash), order)
    )
    if file_hash == receipt.sha256 and in_ledger:
        return FileCheck(
            True,
            f"genuine: receipt {receipt.number} for order {order.public_id}, "
            f"ledger entry seq {entry.seq}",
            file_hash,
        )
    if file_hash == receipt.sha256:
        return FileCheck(
            False,
            f"file matches the stored receipt {receipt.number} but NOT its ledger entry "
            "(the stored copy may have been altered)",
            file_hash,
        )
    return FileCheck(
        False,
        f"file does NOT match receipt {receipt.number} (expected sha256 {receipt.sha256})",
        file_hash,
    )


# --- read-only export ---------------------------------------------------------------
def export(session: Session, *, directory: Path) -> dict:
    """Write ledger.csv, every document PDF and manifest.json (hash of each file) to `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    if any(directory.iterdir()):
        raise FileExistsError(f"{directory} is not empty")
    files = []

    def write(relative: str, data: bytes) -> None:
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files.append({"path": relative, "bytes": len(data), "sha256": ledger.sha256_hex(data)})

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "seq",
            "entity_type",
            "entity_id",
            "action",
            "record_hash",
            "prev_hash",
            "entry_hash",
            "created_at",
        ]
    )
    count, head = 0, ledger.GENESIS_HASH
    for row in ledger.iter_rows(session):
        writer.writerow(row)
        count, head = count + 1, row[6]
    write("ledger.csv", out.getvalue().encode("utf-8"))
    for folder, model in (
        ("invoices", Invoice),
        ("receipts", Receipt),
        ("credit_notes", CreditNote),
    ):
        for number, pdf in session.execute(select(model.number, model.pdf).order_by(model.id)):
            write(f"{folder}/{number}.pdf", pdf)
    manifest = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "ledger_entries": count,
        "ledger_head_hash": head,
        "how_to_verify": "sha256 of each file must equal its entry; each document's sha256 is in "
        "the "
        "record its ledger entry covers (backend audit verify recomputes the chain)",
        "files": files,
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest
