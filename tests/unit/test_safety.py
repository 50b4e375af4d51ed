"""The keyword safety net: emergencies first, medical-advice questions, shopping left alone."""

from __future__ import annotations

import pytest

from backend import safety


@pytest.mark.parametrize(
    "text",
    [
        "I have chest pain after taking the tea",
        "i cant breathe properly",
        "my dad is having a stroke",
        "I think I took too many pills, overdose?",
        "my throat is closing up after the gummies",
        "I want to kill myself",
        "my chest hurts and my arm is numb",
        "pain in my chest since this morning",
        "my left arm went numb",
        "worst headache of my life right now",
    ],
)
def test_emergencies_are_recognised(text):
    verdict = safety.classify(text)
    assert verdict.is_emergency and verdict.flagged


@pytest.mark.parametrize(
    "text",
    [
        "can I take berberine with metformin",
        "what dose of magnesium should I take",
        "should I stop my blood pressure medication",
        "is it safe while pregnant",
        "can my daughter take this",
        "will it cure my diabetes",
        "do i have diabetes if my feet tingle",
        "any side effects with warfarin?",
    ],
)
def test_medical_advice_questions_are_recognised(text):
    verdict = safety.classify(text)
    assert verdict.is_medical and not verdict.is_emergency


@pytest.mark.parametrize(
    "text",
    [
        "show me weight loss products",
        "how much is the marine collagen",
        "is the omega-3 in stock",
        "I want to check out",
        "",
        None,
    ],
)
def test_ordinary_shopping_is_not_flagged(text):
    assert safety.classify(text).kind is None


def test_emergency_wins_over_medical_advice():
    assert safety.classify("chest pain since I combined my meds with this").is_emergency


def test_guidance_names_emergency_numbers():
    assert "911" in safety.EMERGENCY_GUIDANCE and "112" in safety.EMERGENCY_GUIDANCE


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("gasping for air", "emergency"),
        ("my dad just collapsed", "emergency"),
        ("help im dying", "emergency"),
        ("i don't want to live anymore", "emergency"),
        ("i od'd on berberine", "emergency"),
        ("my toddler got into the gummies and is very sleepy", "emergency"),
        ("i'm on lithium can i use any of your supplements", "medical_advice"),
        ("how much berberine is safe per day", "medical_advice"),
        ("is 150/95 bad", "medical_advice"),
        ("is a fasting glucose of 130 high", "medical_advice"),
        ("do you think i'm diabetic", "medical_advice"),
        ("can children use it", "medical_advice"),
        ("i'm going to pass out", "emergency"),
        ("my lips went blue after the supplement", "emergency"),
        ("i lost consciousness for a minute", "emergency"),
        ("my tongue swelled up after your product", "emergency"),
        ("is it ok for my 8 year old", "medical_advice"),
        ("does magnesium interfere with my bp pills", "medical_advice"),
        ("i feel a bit self conscious about my skin", None),
        ("i want 2 packs", None),
        ("how much is the collagen", None),
        ("call me at 5pm", None),
    ],
)
def test_wording_the_classifier_missed_in_cross_validation(text, kind):
    assert safety.classify(text).kind == kind
