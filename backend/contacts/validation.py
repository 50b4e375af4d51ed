"""Name, email and phone validation with short, human reasons for the chat.

email-validator checks syntax (deliverability is off: no DNS from the chat path);
phonenumbers normalises to E.164 using the shop's default region for local numbers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import NumberParseException, ValidationResult

# email-validator's messages → what a person in a chat understands (first match wins).
_EMAIL_REASONS = (
    ("must have an @-sign", "that email has no @ sign"),
    ("something after the @-sign", "that email has no domain (the part after the @)"),
    ("should have a period", "that email's domain looks incomplete, like name@example.com"),
    ("something before the @-sign", "that email has nothing before the @"),
    ("two periods in a row", "that email has two dots in a row"),
    ("cannot end with a period", "that email ends with a dot"),
    ("cannot start with a period", "that email starts with a dot"),
    ("too long", "that email is too long"),
    ("invalid characters", "that email contains characters that aren't allowed"),
    ("special-use or reserved name", "that email's domain can't receive mail"),
)
_PHONE_REASONS = {
    ValidationResult.TOO_SHORT: "that number is too short",
    ValidationResult.TOO_LONG: "that number is too long",
    ValidationResult.INVALID_COUNTRY_CODE: "that number's country code isn't valid",
    ValidationResult.INVALID_LENGTH: "that number doesn't have the right number of digits",
}
_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "that number's country code isn't valid",
    NumberParseException.NOT_A_NUMBER: "that doesn't look like a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "that number is too short",
    NumberParseException.TOO_SHORT_NSN: "that number is too short",
    NumberParseException.TOO_LONG: "that number is too long",
}
MAX_EMAIL_CHARS = 254  # RFC 5321: no deliverable address is longer
# Starts only where a run of address characters starts (the look-behind): same leftmost match,
# but a 1 MB word without "@" is scanned once instead of once per character.
_EMAIL_IN_TEXT = re.compile(r"(?<![^\s<>()\[\],;:\"'])[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']*")


@dataclass(frozen=True)
class Checked:
    """A validated value (normalised) or the reason it was refused."""

    value: str | None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None


def check_email(raw: str | None) -> Checked:
    text = (raw or "").strip()
    if not text:
        return Checked(None, "I didn't catch an email address")
    # "sure, it's jane@example.com" → validate the address, not the whole sentence.
    found = _EMAIL_IN_TEXT.search(text)
    candidate = found.group(0).rstrip(".") if found else text
    if len(candidate) > MAX_EMAIL_CHARS:  # email-validator takes seconds on a 1 MB word
        return Checked(None, "that email address is too long")
    try:
        result = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        return Checked(None, email_reason(str(exc)))
    return Checked(result.normalized)


def email_reason(message: str) -> str:
    lowered = message.lower()
    for needle, reason in _EMAIL_REASONS:
        if needle.lower() in lowered:
            return reason
    return "that doesn't look like an email address"


def check_phone(raw: str | None, *, default_region: str) -> Checked:
    text = (raw or "").strip()
    if not text or not any(ch.isdigit() for ch in text):
        return Checked(None, "that doesn't look like a phone number")
    try:
        number = phonenumbers.parse(text, default_region.upper())
    except NumberParseException as exc:
        return Checked(
            None, _PARSE_REASONS.get(exc.error_type, "that doesn't look like a phone number")
        )
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible not in (ValidationResult.IS_POSSIBLE, ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
        return Checked(None, _PHONE_REASONS.get(possible, "that doesn't look like a phone number"))
    if not phonenumbers.is_valid_number(number):
        return Checked(
            None, "that isn't a valid number; please include the country code, like +1 415 555 0123"
        )
    return Checked(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


MAX_NAME = 100  # characters, after trimming
# "my name is ...", "I'm ...", "call me ..." before the name itself.
_NAME_PREFIX = re.compile(
    r"^(?:my name is|my name's|name is|name:|i am|i'm|im|it's|its|call me|this is)\s+", re.I
)
_NAME_PUNCT = set(" -'.\u2019\u02bc")  # space, hyphen, apostrophes, initials' dots
_URL_LIKE = re.compile(r"(?:https?:|www\.|\.(?:com|net|org|io)\b)", re.I)


def check_name(raw: str | None) -> Checked:
    """What a person types as their name, in any script: letters and combining marks, with
    spaces, hyphens, apostrophes and initials' dots; no digits, emails or links."""
    text = unicodedata.normalize("NFC", " ".join((raw or "").split()))
    text = _NAME_PREFIX.sub("", text).strip(" ,!")
    if not text or not any(ch.isalpha() for ch in text):
        return Checked(None, "I didn't catch a name")
    if len(text) > MAX_NAME:
        return Checked(None, f"that's longer than a name can be here ({MAX_NAME} characters)")
    if "@" in text or _URL_LIKE.search(text):
        return Checked(None, "that looks like an email address or a link, not a name")
    if any(ch.isdigit() for ch in text):
        return Checked(None, "a name can't contain digits")
    for ch in text:
        if not (ch.isalpha() or unicodedata.category(ch).startswith("M") or ch in _NAME_PUNCT):
            return Checked(None, "a name can only have letters, spaces, hyphens and apostrophes")
    return Checked(text.rstrip("."))
