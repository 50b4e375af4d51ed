"""Which answers count as a yes with legal weight (backend/contacts/consent_answer.py)."""

from __future__ import annotations

import pytest

from backend.contacts.consent_answer import (
    is_button_payload,
    is_clear_affirmation,
    is_clear_choice,
)

CLEAR = ["yes", "Yes!", "YES.", "ok", "OK 👍", "okay", "sure", "sure, go ahead", "I agree",
         "yes, I agree", "Yes please", "yes I agree to the privacy policy", "of course",
         "sounds good", "that's fine", "Yes, I’m fine with that", "oui", "ja", "tak", "sim",
         "sí", "si", "claro", "bien sûr", "d'accord"]  # fmt: skip
UNCLEAR = ["x", "A" * 10_000, "AAAA", "yes" * 20, "yes but no", "I don't agree", "not sure",
           "please", "no", "maybe", "y", "course", "", "   ", "1234", "yes " * 9,
           "yes, and tell me about your cheapest product"]  # fmt: skip


def answer(text: str, intent: str = "affirm"):
    return is_clear_affirmation(text=text, intent=intent, via_button=is_button_payload(text))


@pytest.mark.parametrize("text", CLEAR)
def test_short_plain_yes_counts(text):
    assert answer(text).clear


@pytest.mark.parametrize("text", UNCLEAR)
def test_nonsense_long_or_hedged_answers_do_not_count(text):
    result = answer(text)
    assert not result.clear
    assert result.reason == "Please answer yes or no, or use the buttons."


def test_a_button_counts_only_for_its_intent():
    assert answer("/affirm").clear
    assert not answer("/affirm", intent="deny").clear
    assert not answer("yes", intent="greet").clear


def test_a_choice_is_a_button_or_short_text():
    assert is_clear_choice(text='/inform{"channel":"sms"}', via_button=True).clear
    assert is_clear_choice(text="email and sms", via_button=False).clear
    assert not is_clear_choice(text="email " * 50, via_button=False).clear
