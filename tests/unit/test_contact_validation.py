"""Email and phone checks: normalised values, or a short reason a person understands."""

from __future__ import annotations

import pytest

from backend.contacts.validation import Checked, check_email, check_name, check_phone, email_reason


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("jane", "that email has no @ sign"),
        ("jane@", "that email has no domain (the part after the @)"),
        ("@example.com", "that email has nothing before the @"),
        ("jane@example", "that email's domain looks incomplete, like name@example.com"),
        ("jane@@example.com", "that email contains characters that aren't allowed"),
        ("jane..doe@example.com", "that email has two dots in a row"),
        ("", "I didn't catch an email address"),
    ],
)
def test_invalid_emails_get_a_reason(raw, reason):
    checked = check_email(raw)
    assert not checked.ok and checked.reason == reason


def test_valid_email_is_normalised_and_found_inside_a_sentence():
    assert check_email("Jane.Doe@Example.COM").value == "Jane.Doe@example.com"
    assert check_email("sure, it's jane@example.com.").value == "jane@example.com"


def test_unknown_validator_message_falls_back_to_a_generic_reason():
    assert email_reason("something new") == "that doesn't look like an email address"


def test_phone_local_number_uses_default_region():
    assert check_phone("(415) 555-0123", default_region="US").value == "+14155550123"
    assert check_phone("07911 123456", default_region="GB").value == "+447911123456"


def test_phone_with_country_code_ignores_default_region():
    assert check_phone("+49 170 1234567", default_region="US").value == "+491701234567"


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("12", "that number is too short"),
        ("call me maybe", "that doesn't look like a phone number"),
        ("+1 415 555 0123 4567 89", "that number is too long"),
        ("+999 1234567", "that number's country code isn't valid"),
    ],
)
def test_invalid_phones_get_a_reason(raw, reason):
    checked = check_phone(raw, default_region="US")
    assert not checked.ok and checked.reason == reason


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("Zbigniew Brzęczyszczykiewicz", "Zbigniew Brzęczyszczykiewicz"),
        ("José María", "José María"),
        ("Jose\u0301 Mari\u0301a", "José María"),  # combining accents are marks, kept (NFC)
        ("Anne-Marie O'Neil", "Anne-Marie O'Neil"),
        ("Anne-Marie O\u2019Neil", "Anne-Marie O\u2019Neil"),
        ("Madonna", "Madonna"),
        ("Иван Петров", "Иван Петров"),
        ("王芳", "王芳"),
        ("محمد", "محمد"),
        ("my name is  J. R. R. Tolkien", "J. R. R. Tolkien"),
        ("  I'm Nguyễn Thị Minh Khai ", "Nguyễn Thị Minh Khai"),
    ],
)
def test_real_names_in_any_script_are_accepted(typed, name):
    assert check_name(typed) == Checked(name)


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "I didn't catch a name"),
        ("123", "I didn't catch a name"),
        ("R2D2", "a name can't contain digits"),
        ("jane@example.com", "that looks like an email address or a link, not a name"),
        ("see www.spam.example", "that looks like an email address or a link, not a name"),
        ("http://x.io", "that looks like an email address or a link, not a name"),
        ("a" * 101, "that's longer than a name can be here (100 characters)"),
        ("Jane <script>", "a name can only have letters, spaces, hyphens and apostrophes"),
        ("Jane; DROP TABLE", "a name can only have letters, spaces, hyphens and apostrophes"),
    ],
)
def test_non_names_are_refused_with_a_reason(typed, reason):
    assert check_name(typed) == Checked(None, reason)
