"""`backend contacts …`: staff-handled access, opt-out and erasure requests."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend import cli
from backend.config import reset_settings_cache
from backend.contacts import service
from backend.contacts.models import ConsentEvent, Contact
from backend.db import reset_engine, session_scope


@pytest.fixture
def env(monkeypatch, db_url, session_factory):
    monkeypatch.setenv("DATABASE_URL", db_url)
    reset_settings_cache()
    reset_engine()
    with session_scope(session_factory) as s:
        service.record_privacy(
            s, sender_id="s1", channel="rest", granted=True, wording="w", version="v"
        )
        service.save_contact_details(
            s,
            sender_id="s1",
            version="v",
            details=service.ContactDetails(email="jane@example.com", marketing_channels=("email",)),
        )
    yield session_factory
    reset_engine()
    reset_settings_cache()


def test_show_opt_out_and_erase(env, capsys):
    assert cli.main(["contacts", "show", "--email", "JANE@example.com"]) == 0
    assert "marketing:email: granted" in capsys.readouterr().out
    assert cli.main(["contacts", "opt-out", "--email", "jane@example.com"]) == 0
    with session_scope(env) as s:
        withdrawn = s.execute(select(ConsentEvent).where(ConsentEvent.source == "api")).scalars()
        # sms and whatsapp were already declined in the form: one new event, for email.
        assert sorted(e.channel for e in withdrawn) == ["email"]
    assert cli.main(["contacts", "erase", "--email", "jane@example.com"]) == 0
    with session_scope(env) as s:
        assert s.execute(select(Contact.email)).scalar_one() is None
    assert cli.main(["contacts", "show", "--email", "jane@example.com"]) == 2
    assert "no contact" in capsys.readouterr().err


def test_finish_erasures_runs_with_nothing_pending(env, capsys):
    assert cli.main(["contacts", "finish-erasures"]) == 0
    assert "0 erasure requests" in capsys.readouterr().out


def test_export_lists_the_person_and_erase_blanks_it(env, capsys, tmp_path):
    assert cli.main(["contacts", "export", "--email", "Jane@Example.com"]) == 0
    import json

    data = json.loads(capsys.readouterr().out)
    assert data["contact"]["email"] == "jane@example.com"
    assert [c["id"] for c in data["conversations"]] == ["s1"]
    assert {(c["purpose"], c["channel"]) for c in data["consents"]} >= {("privacy", "chat")}
    assert all(c["ledger"]["entry_hash"] for c in data["consents"])
    page = tmp_path / "export.html"
    assert cli.main(["contacts", "export", "--email", "jane@example.com", "--html",
                     "--out", str(page)]) == 0  # fmt: skip
    assert "jane@example.com" in page.read_text()
