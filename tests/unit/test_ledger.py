from sqlalchemy import text

from backend import ledger


def _chain(session, n=5):
    for i in range(n):
        ledger.append(
            session, entity_type="consent", entity_id=i + 1, action="granted", record={"i": i}
        )
    session.commit()


def _drop_guards(session):
    # An attacker with database access can drop the append-only triggers;
    # verify must still catch it.
    session.execute(text("DROP TRIGGER IF EXISTS ledger_entries_no_update"))
    session.execute(text("DROP TRIGGER IF EXISTS ledger_entries_no_delete"))


def test_append_then_verify_ok(session):
    _chain(session)
    report = ledger.verify(session)
    assert report.ok and report.checked == 5
    head = ledger.latest_for(session, entity_type="consent", entity_id=5)
    assert (
        head.seq == 5
        and head.prev_hash
        == ledger.latest_for(session, entity_type="consent", entity_id=4).entry_hash
    )


def test_record_hash_is_canonical():
    assert ledger.record_hash({"b": 1, "a": "é"}) == ledger.record_hash({"a": "é", "b": 1})


def test_edited_entry_is_detected(session):
    _chain(session)
    _drop_guards(session)
    session.execute(
        text("UPDATE ledger_entries SET record_hash = :h WHERE seq = 3"), {"h": "f" * 64}
    )
    report = ledger.verify(session)
    assert report.first_bad.seq == 3 and report.first_bad.problem == "edited"
    assert report.first_bad.entity_id == "3"


def test_deleted_entry_is_detected(session):
    _chain(session)
    _drop_guards(session)
    session.execute(text("DELETE FROM ledger_entries WHERE seq = 2"))
    report = ledger.verify(session)
    assert report.first_bad.seq == 3 and report.first_bad.problem == "missing entry before"


def test_inserted_entry_is_detected(session):
    _chain(session, 3)
    _drop_guards(session)
    # forge an entry between 1 and 2 by renumbering: hashes cover seq, so this breaks the chain
    session.execute(text("UPDATE ledger_entries SET seq = seq + 10 WHERE seq >= 2"))
    forged_prev = session.execute(
        text("SELECT entry_hash FROM ledger_entries WHERE seq = 1")
    ).scalar_one()
    created = "2026-01-01T00:00:00.000000+00:00"
    rhash = ledger.record_hash({"forged": True})
    ehash = ledger.entry_hash(
        seq=2,
        entity_type="receipt",
        entity_id="99",
        action="issued",
        record_hash=rhash,
        prev_hash=forged_prev,
        created_at=created,
    )
    session.execute(
        text("INSERT INTO ledger_entries VALUES (2, 'receipt', '99', 'issued', :r, :p, :e, :c)"),
        {"r": rhash, "p": forged_prev, "e": ehash, "c": created},
    )
    report = ledger.verify(session)
    assert not report.ok
    assert {p.seq for p in report.problems} >= {12}


def test_reordered_entries_are_detected(session):
    _chain(session)
    _drop_guards(session)
    session.execute(text("UPDATE ledger_entries SET seq = 100 WHERE seq = 2"))
    session.execute(text("UPDATE ledger_entries SET seq = 2 WHERE seq = 3"))
    session.execute(text("UPDATE ledger_entries SET seq = 3 WHERE seq = 100"))
    report = ledger.verify(session)
    assert report.first_bad.seq == 2 and report.first_bad.problem == "edited"
