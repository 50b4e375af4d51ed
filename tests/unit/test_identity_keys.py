"""Identity keys: one email or phone, however it is written, is one key."""

from __future__ import annotations

import pytest

from backend.contacts.identity import email_key, phone_key


@pytest.mark.parametrize(
    "written",
    [
        "jane.doe@example.com",
        "Jane.Doe@EXAMPLE.com",
        " JANE.DOE@example.COM ",
        "ＪＡＮＥ.ＤＯＥ@example.com",
    ],
)
def test_case_width_and_spaces_give_one_email_key(written):
    assert email_key(written) == "jane.doe@example.com"


def test_unicode_domains_are_keyed_in_idna_and_local_parts_casefolded():
    assert email_key("Zoë@Bücher.DE") == "zoë@xn--bcher-kva.de"
    assert email_key("zoë@xn--bcher-kva.de") == email_key("ZOË@bücher.de")
    assert email_key("straße@example.com") == email_key(
        "STRASSE@example.com"
    )  # casefold, not lower


@pytest.mark.parametrize("bad", [None, "", "no-at-sign", "a@", "@example.com", "x" * 400])
def test_invalid_emails_have_no_key(bad):
    assert email_key(bad) is None


@pytest.mark.parametrize(
    "written", ["+14155550123", "whatsapp:+14155550123", "+1 (415) 555-0123", " +1 415 555 0123 "]
)
def test_a_phone_and_its_whatsapp_sender_are_one_key(written):
    assert phone_key(written) == "+14155550123"


@pytest.mark.parametrize("bad", [None, "", "4155550123", "whatsapp:hello", "+1 555"])
def test_numbers_without_country_code_or_invalid_have_no_key(bad):
    assert phone_key(bad) is None
