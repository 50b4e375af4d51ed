"""`backend audit …`: every kind of tampering is found and named; the CLI reports and exits 1."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from backend import cli, ledger
from backend.config import reset_settings_cache
from backend.contacts.models import ConsentEvent, Contact
from backend.contacts.records import consent_record
from backend.db import reset_engine, session_scope
from backend.incidents import Incident
from backend.orders import audit, service
from backend.orders.models import CreditNote, Receipt
from backend.orders.payments import FakePayments
from tests.integration.orders_support import add_product, paid_order


@pytest.fixture(params=["sqlite", "postgres"])
def books(request, settings):
    """A shop with 3 paid orders (one partly refunded) and one consent, all in the ledger."""
    factory = (
        request.getfixturevalue("session_factory")
        if request.param == "sqlite"
        else request.getfixturevalue("pg_session_factory")
    )
    settings = replace(settings, tax_rate_percent="8.25")
    add_product(factory, stock=50)
    orders = [paid_order(factory, settings, quantity=q) for q in (1, 2, 3)]
    with session_scope(factory) as session:
        service.refund(
            session,
            settings=settings,
            payments=FakePayments(),
            public_id=orders[0].public_id,
            amount_minor=500,
            reason="late delivery",
        )
        contact = Contact(email="c@shop.test")
        session.add(contact)
        session.flush()
        event = ConsentEvent(
            contact_id=contact.id,
            purpose="privacy",
            channel="chat",
            granted=True,
            wording="I accept the privacy policy",
            wording_version="2026-11",
            source="chat",
        )
        session.add(event)
        session.flush()
        ledger.append(
            session,
            entity_type="consent",
            entity_id=event.id,
            action="granted",
            record=consent_record(event),
        )
    return factory, orders


def drop_guards(session) -> None:
    """What an attacker with database access would do first."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("DROP TRIGGER IF EXISTS ledger_entries_no_update_delete ON ledger_entries")
        )
    else:
        session.execute(text("DROP TRIGGER IF EXISTS ledger_entries_no_update"))
        session.execute(text("DROP TRIGGER IF EXISTS ledger_entries_no_delete"))


def tamper(factory, *statements, params=None):
    with session_scope(factory) as session:
        drop_guards(session)
        for statement in statements:
            session.execute(text(statement), params or {})


def run_audit(factory) -> audit.AuditReport:
    with factory() as session:
        return audit.verify_all(session)


def named(report) -> set[tuple[str, str]]:
    return {(m.entity_type, m.entity_id) for m in report.mismatches}


def receipt_number(factory, index=0) -> str:
    with factory() as s:
        return s.execute(select(Receipt.number).order_by(Receipt.id)).scalars().all()[index]


def test_untouched_books_verify(books):
    factory, _ = books
    report = run_audit(factory)
    assert report.ok, report.mismatches
    assert report.verified == {"invoice": 3, "receipt": 3, "credit_note": 1, "consent": 1}
    assert report.ledger_entries == 8


def test_the_database_refuses_to_update_or_delete_ledger_rows(books):
    factory, _ = books
    for statement in (
        "UPDATE ledger_entries SET action = 'x' WHERE seq = 1",
        "DELETE FROM ledger_entries",
    ):
        with factory() as session, pytest.raises(DBAPIError, match="append-only"):
            session.execute(text(statement))
    assert run_audit(factory).ok


def test_edited_receipt_row_is_named(books):
    factory, _ = books
    number = receipt_number(factory, 1)
    tamper(
        factory,
        "UPDATE receipts SET issued_at = :t WHERE number = :n",
        params={"t": "2020-01-01 00:00:00", "n": number},
    )
    report = run_audit(factory)
    assert named(report) == {("receipt", number)}
    problems = {m.problem: m for m in report.mismatches}
    assert set(problems) == {
        "re-rendered PDF differs from the stored hash",
        "record differs from its ledger entry",
    }
    assert all(m.computed_hash != m.ledger_hash for m in report.mismatches)


def test_edited_order_total_is_named_on_its_invoice_and_receipt(books):
    factory, orders = books
    tamper(
        factory,
        "UPDATE orders SET total_minor = 1 WHERE public_id = :p",
        params={"p": orders[2].public_id},
    )
    assert named(run_audit(factory)) == {
        ("invoice", receipt_number(factory, 2).replace("RCT", "INV")),
        ("receipt", receipt_number(factory, 2)),
    }


def test_one_byte_changed_in_a_stored_pdf_is_named(books):
    factory, _ = books
    with session_scope(factory) as session:
        receipt = session.execute(select(Receipt).order_by(Receipt.id)).scalars().first()
        pdf = bytearray(receipt.pdf)
        pdf[len(pdf) // 2] ^= 0x01
        receipt.pdf = bytes(pdf)
        number = receipt.number
    report = run_audit(factory)
    assert [(m.entity_type, m.entity_id, m.problem) for m in report.mismatches] == [
        ("receipt", number, "stored PDF bytes differ from their hash")
    ]


def test_deleted_ledger_row_is_named(books):
    factory, _ = books
    number = receipt_number(factory, 0)
    tamper(
        factory,
        "DELETE FROM ledger_entries WHERE entity_type = 'receipt' AND entity_id = :n",
        params={"n": number},
    )
    report = run_audit(factory)
    assert ("receipt", number) in named(report)
    assert any(m.problem.endswith("missing entry before") for m in report.mismatches)


def test_forged_ledger_rows_are_named(books):
    factory, _ = books
    with factory() as session:
        head = session.execute(
            text("SELECT seq, entry_hash FROM ledger_entries ORDER BY seq DESC")
        ).first()
    # a well-formed chain extension (the attacker knows the algorithm) for a receipt that never was
    forged = dict(
        seq=head.seq + 1,
        entity_type="receipt",
        entity_id="RCT-2026-999999",
        action="issued",
        record_hash="ab" * 32,
        prev_hash=head.entry_hash,
        created_at="2026-01-01T00:00:00.000000+00:00",
    )
    forged["entry_hash"] = ledger.entry_hash(**forged)
    # and a clumsy one in the chain's middle: a hash that does not link
    clumsy = dict(forged, seq=head.seq + 2, entity_id="RCT-2026-888888", prev_hash="cd" * 32)
    clumsy["entry_hash"] = ledger.entry_hash(
        **{k: v for k, v in clumsy.items() if k != "entry_hash"}
    )
    insert = (
        "INSERT INTO ledger_entries (seq, entity_type, entity_id, action, record_hash, prev_hash, "
        "entry_hash, created_at) VALUES (:seq, :entity_type, :entity_id, :action, :record_hash, "
        ":prev_hash, :entry_hash, :created_at)"
    )
    with session_scope(factory) as session:
        session.execute(text(insert), forged)
        session.execute(text(insert), clumsy)
    report = run_audit(factory)
    assert named(report) == {("receipt", "RCT-2026-999999"), ("receipt", "RCT-2026-888888")}
    problems = {
        m.entity_id: m.problem
        for m in report.mismatches
        if m.problem.startswith("ledger entry seq")
    }
    assert problems == {
        "RCT-2026-888888": f"ledger entry seq {head.seq + 2}: out of order/inserted"
    }


def test_reordered_ledger_rows_are_named(books):
    factory, _ = books
    tamper(
        factory,
        "UPDATE ledger_entries SET seq = -1 WHERE seq = 2",
        "UPDATE ledger_entries SET seq = 2 WHERE seq = 3",
        "UPDATE ledger_entries SET seq = 3 WHERE seq = -1",
    )
    report = run_audit(factory)
    assert report.mismatches and all(
        m.problem.startswith("ledger entry seq") for m in report.mismatches
    )
    with factory() as s:
        moved = {
            (r.entity_type, r.entity_id)
            for r in s.execute(
                text("SELECT entity_type, entity_id FROM ledger_entries WHERE seq IN (2, 3)")
            )
        }
    assert moved <= named(report)  # both moved entries are named (and the link after them)


def test_edited_consent_is_named(books):
    factory, _ = books
    tamper(factory, "UPDATE consent_events SET wording = 'I accept marketing' WHERE id = 1")
    report = run_audit(factory)
    assert [(m.entity_type, m.entity_id, m.problem) for m in report.mismatches] == [
        ("consent", "1", "record differs from its ledger entry")
    ]


def test_edited_credit_note_is_named(books):
    factory, _ = books
    with session_scope(factory) as session:
        note = session.execute(select(CreditNote)).scalar_one()
        note.amount_minor, number = 50, note.number
    assert named(run_audit(factory)) == {("credit_note", number)}


def test_mismatches_open_incidents_once(books):
    factory, _ = books
    tamper(factory, "UPDATE consent_events SET granted = false WHERE id = 1")
    for expected_new in (1, 0):
        report = run_audit(factory)
        with session_scope(factory) as session:
            assert audit.open_incidents(session, report) == expected_new
    with factory() as session:
        [incident] = session.execute(select(Incident)).scalars().all()
    assert (incident.kind, incident.entity_type, incident.entity_id) == (
        "ledger_mismatch",
        "consent",
        "1",
    )
    assert incident.detail["computed_hash"] == report.mismatches[0].computed_hash


# --- the CLI ------------------------------------------------------------------------------
@pytest.fixture
def cli_env(monkeypatch, db_url, session_factory, settings):
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("TAX_RATE_PERCENT", "8.25")
    reset_settings_cache()
    reset_engine()
    add_product(session_factory, stock=20)
    orders = [
        paid_order(session_factory, replace(settings, tax_rate_percent="8.25")) for _ in range(2)
    ]
    yield session_factory, orders
    reset_settings_cache()
    reset_engine()


def test_cli_verify_reports_and_exits_by_result(cli_env, tmp_path, capsys):
    factory, _ = cli_env
    assert cli.main(["audit", "verify"]) == 0
    assert "**all verified**" in capsys.readouterr().out
    number = receipt_number(factory, 1)
    tamper(
        factory,
        "UPDATE receipts SET sha256 = :h WHERE number = :n",
        params={"h": "0" * 64, "n": number},
    )
    out = tmp_path / "report.csv"
    assert cli.main(["audit", "verify", "--report", "csv", "--out", str(out)]) == 1
    rows = [r for r in csv.DictReader(out.open()) if r["section"] == "mismatch"]
    assert {(r["entity_type"], r["entity_id"]) for r in rows} == {("receipt", number)}
    assert cli.main(["audit", "verify", "--report", "markdown"]) == 1
    text_out = capsys.readouterr().out
    assert f"| receipt | {number} |" in text_out and "## Mismatches" in text_out


def test_cli_verify_file_accepts_the_genuine_receipt_only(cli_env, tmp_path, capsys):
    factory, orders = cli_env
    with factory() as s:
        pdf = s.execute(select(Receipt.pdf).order_by(Receipt.id)).scalars().first()
    genuine, forged = tmp_path / "genuine.pdf", tmp_path / "forged.pdf"
    genuine.write_bytes(pdf)
    forged.write_bytes(pdf.replace(b"Receipt", b"Receipf", 1))
    assert cli.main(["audit", "verify-file", "--receipt", orders[0].public_id, str(genuine)]) == 0
    assert "MATCH: genuine" in capsys.readouterr().out
    assert cli.main(["audit", "verify-file", "--receipt", orders[0].public_id, str(forged)]) == 1
    assert "NO MATCH" in capsys.readouterr().out


def test_cli_export_writes_ledger_pdfs_and_manifest(cli_env, tmp_path):
    target = tmp_path / "export"
    assert cli.main(["audit", "export", str(target)]) == 0
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["ledger_entries"] == 4
    paths = {f["path"] for f in manifest["files"]}
    assert "ledger.csv" in paths and len([p for p in paths if p.startswith("receipts/")]) == 2
    for f in manifest["files"]:
        assert ledger.sha256_hex((target / f["path"]).read_bytes()) == f["sha256"]
    assert cli.main(["audit", "export", str(target)]) == 2  # never overwrites


def test_cli_refund(cli_env, capsys):
    _, orders = cli_env
    assert cli.main(["orders", "refund", orders[0].public_id, "10.00", "--reason", "goodwill"]) == 0
    assert "credit note CN-" in capsys.readouterr().out
    assert cli.main(["orders", "refund", orders[0].public_id, "999.00", "--reason", "x"]) == 2
