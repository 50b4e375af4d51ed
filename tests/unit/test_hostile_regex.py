"""Every pattern that sees user text stays linear on hostile input (issue 11, item 2).

Each test feeds 1 MB shapes that made the old patterns backtrack quadratically (a 10k-char word
took 3.7 s in Rasa's RegexFeaturizer, 1 MB took hours) and asserts the *result*; the time of
each pattern is measured in benchmarks/hostile_input.py, not asserted here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rasa.nlu.extractors.regex_entity_extractor import RegexEntityExtractor
from rasa.nlu.utils.pattern_utils import extract_patterns
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message

from backend.contacts.validation import check_email, check_name
from backend.logging_setup import EMAIL_RE, redact_text

ROOT = Path(__file__).resolve().parents[2]
MB = 1_000_000
HOSTILE = {
    "word": "a" * MB,
    "digits": "1" * MB,
    "a@": "a@" * (MB // 2),
    "dots": "." * MB,
    "a.": "a." * (MB // 2),
    "1 ": "1 " * (MB // 2),
    "1-": "1-" * (MB // 2),
    "mixed": ("Ab9._%+-@(1) " * (MB // 13 + 1))[:MB],
}


@pytest.fixture(scope="module")
def nlu_patterns() -> dict[str, str]:
    """The regexes of data/nlu.yml exactly as RegexFeaturizer/RegexEntityExtractor build them."""
    data = load_data(str(ROOT / "data" / "nlu.yml"))
    found = extract_patterns(data, use_lookup_tables=False, use_regexes=True)
    return {p["name"]: p["pattern"] for p in found}


@pytest.fixture(scope="module")
def extractor(nlu_patterns) -> RegexEntityExtractor:
    """Rasa's own RegexEntityExtractor with the patterns of data/nlu.yml (as config.yml runs it)."""
    config = {**RegexEntityExtractor.get_default_config(), "use_lookup_tables": False}
    patterns = [{"name": k, "pattern": v} for k, v in nlu_patterns.items()]
    return RegexEntityExtractor(config, None, None, patterns=patterns)


def entities(extractor: RegexEntityExtractor, text: str) -> list[tuple[str, str]]:
    message = Message(data={"text": text})
    extractor.process([message])
    return [(e["entity"], e["value"]) for e in message.get("entities", [])]


def test_nlu_regexes_find_no_entity_in_hostile_words(nlu_patterns):
    assert set(nlu_patterns) == {"email", "phone", "identity_code"}
    for shape in ("word", "digits", "a@", "dots", "a.", "mixed"):
        for name, pattern in nlu_patterns.items():
            # RegexFeaturizer runs re.finditer(pattern, text, flags=re.IGNORECASE)
            found = [m.group() for m in re.finditer(pattern, HOSTILE[shape], flags=re.IGNORECASE)]
            assert found == [], (name, shape)


def test_nlu_phone_regex_never_matches_more_than_a_phone_number(nlu_patterns):
    for shape in ("1 ", "1-"):
        found = [m.group() for m in re.finditer(nlu_patterns["phone"], HOSTILE[shape])]
        assert found, shape  # short matches, never one 1 MB "phone number"
        assert all(sum(c.isdigit() for c in f) <= 20 for f in found), shape


def test_rasa_regex_entity_extractor_on_one_megabyte(extractor):
    for shape in ("word", "digits", "a@", "dots", "a."):
        assert entities(extractor, HOSTILE[shape]) == [], shape


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my email is rebecca.hall@gmail.com", [("email", "rebecca.hall@gmail.com")]),
        (
            "email d.okafor@outlook.com, mobile +44 7700 900312",
            [("email", "d.okafor@outlook.com"), ("phone", "+44 7700 900312")],
        ),
        ("pls call me back on 07700 900555", [("phone", "07700 900555")]),
        ("my number is (415) 555-0166 thanks", [("phone", "(415) 555-0166")]),
        (
            "reach me at jo_ann+shop@mail.example.co.uk",
            [("email", "jo_ann+shop@mail.example.co.uk")],
        ),
        ("[0161 496 0000]", [("phone", "0161 496 0000")]),
        ("order 12345678901234567890123 please", []),  # too many digits for a phone
        ("order number HTS-2024-0042 where is it", []),  # part of an order number
    ],
)
def test_normal_emails_and_phones_are_still_extracted(extractor, text, expected):
    assert sorted(entities(extractor, text)) == sorted(expected)


def test_log_redaction_on_one_megabyte():
    for shape in ("word", "digits", "a@", "dots", "a."):
        redacted = redact_text(HOSTILE[shape])
        assert "<email>" not in redacted and "<phone>" not in redacted, shape
        assert "chars cut" in redacted  # a log record keeps its head and tail only
    assert "<phone>" in redact_text("call 415.555.0166 " + "1 " * (MB // 2))
    assert EMAIL_RE.search("a" * MB) is None
    assert [m.group() for m in EMAIL_RE.finditer("x " * 1000 + "jane@example.org")] == [
        "jane@example.org"
    ]


def test_contact_patterns_on_one_megabyte():
    for shape in ("word", "dots", "1 "):
        assert check_name(HOSTILE[shape]).value is None, shape
        assert check_email(HOSTILE[shape]).reason is not None, shape
    assert check_email(HOSTILE["a@"]).reason == "that email address is too long"
    assert check_name("my name is Jane Doe").value == "Jane Doe"
    assert check_email("sure, it's Jane@Example.com").value == "Jane@example.com"
