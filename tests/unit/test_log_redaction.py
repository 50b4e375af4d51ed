"""Log redaction (issue 11, item 8): phone numbers of many formats and regions and emails are
hidden; order ids, invoice numbers, timestamps and amounts stay readable; Rasa's own events
never carry the conversation's text (names match no pattern)."""

from __future__ import annotations

import logging

import pytest
import structlog

from backend.logging_setup import install_record_redaction, redact_text

PHONES = [
    "415.555.0166",  # US, dotted (missed before)
    "(415) 555-0166",
    "415-555-0166",
    "+1 415 555 0166",
    "+1-415-555-0166",
    "4155550166",
    "+14155550166",
    "whatsapp:+447700900123",
    "+44 7700 900456",  # UK drama range: not "valid", still a phone
    "07700 900555",
    "020 7946 0958",
    "+49 30 901820",
    "030 901820",
    "+48 612 345 678",
    "600 700 800",
    "+91 98765 43210",
    "98765 43210",
    "+55 11 91234-5678",
    "(11) 91234-5678",
    "+33 6 12 34 56 78",
]
KEPT = [
    "3f2a9c4e-1b7d-4e8a-9c3f-2a1b7d4e8a9c",  # order public id (uuid4)
    "550e8400-e29b-41d4-a716-446655440000",
    "2026-12-01T13:44:11.123456+00:00",
    "2026-12-01 13:44:11,123",
    "2026-12-01 13:44:11.123456",
    "01.12.2026 13:44",
    "12/01/2026",
    "INV-2026-000123",
    "RCT-2026-000123",
    "CN-2026-000123-01",
    "1234.56 EUR",
    "12,345.67",
    "amount_cents=1234567",
    "pi_3N0abc123456789012",
    "cs_test_a1B2c3D4e5F6g7H8",
    "port 5432 pid 12345 took 1234567 us",
    "order 42 qty 3",
]


@pytest.mark.parametrize("phone", PHONES)
def test_phone_numbers_of_many_formats_and_regions_are_hidden(phone):
    redacted = redact_text(f"lead sender={phone} failed")
    assert redacted in ("lead sender=<phone> failed", "lead sender=whatsapp:<phone> failed")


@pytest.mark.parametrize("kept", KEPT)
def test_ids_dates_and_amounts_stay_readable(kept):
    line = f"order {kept} paid at 2026-12-01T13:44:11Z"
    assert redact_text(line) == line


def test_emails_and_phones_among_ids_in_one_line():
    line = (
        "payment failed order=3f2a9c4e-1b7d-4e8a-9c3f-2a1b7d4e8a9c invoice=INV-2026-000123 "
        "at 2026-12-01T13:44:11.123456+00:00 for jane.doe+shop@mail.example.co.uk "
        "(415.555.0166, whatsapp:+447700900123) total 49.90 USD"
    )
    assert redact_text(line) == (
        "payment failed order=3f2a9c4e-1b7d-4e8a-9c3f-2a1b7d4e8a9c invoice=INV-2026-000123 "
        "at 2026-12-01T13:44:11.123456+00:00 for <email> "
        "(<phone>, whatsapp:<phone>) total 49.90 USD"
    )


@pytest.fixture
def rasa_structlog(caplog):
    """structlog configured by Rasa's own function (as `rasa run` does), restored afterwards."""
    from rasa.utils.log_utils import configure_structlog

    saved = structlog.get_config()
    saved["processors"] = list(saved["processors"])
    previous_factory = logging.getLogRecordFactory()
    configure_structlog(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    try:
        yield
    finally:
        logging.setLogRecordFactory(previous_factory)
        structlog.configure(**saved)


def test_rasa_rest_channel_error_log_carries_no_name_email_or_phone(rasa_structlog, caplog):
    install_record_redaction(["tok-abcdef-123"])  # what the Rasa process runs at channel load
    logger = structlog.get_logger()
    text = "I'm Jane Doe, jane@example.org, call 415.555.0166"
    try:
        raise ValueError("duplicate key jane@example.org +44 7700 900123")
    except ValueError:
        # rasa/core/channels/rest.py logs exactly this when handling a message fails
        logger.exception("rest.message.received.failure", text=text)
    out = caplog.text
    assert "rest.message.received.failure" in out
    assert f"<hidden: {len(text)} chars>" in out
    assert "ValueError" in out and "<email> <phone>" in out
    for leaked in ("Jane Doe", "jane@example.org", "415.555.0166", "7700 900123"):
        assert leaked not in out


def test_structlog_redaction_installs_once(rasa_structlog):
    install_record_redaction()
    install_record_redaction()
    from backend.logging_setup import hide_user_text

    assert structlog.get_config()["processors"].count(hide_user_text) == 1
