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


# Long, realistic messages (issue 12): ordinary shopping with ages, family illness, history and
# fitness talk gets neither script; real emergencies inside long text still do.
LONG_SHOPPING = [
    "Hi! I'm 52 and my husband is 55. We both want to lose a bit of weight before our "
    "daughter's wedding. He had a heart attack back in 2018 and is fine now. What do you have?",
    "My gran is 88, she had a stroke years ago and recovered well. She loves her garden and "
    "wants more energy in the mornings. Any gift ideas under 40?",
    "I'm a personal trainer and half my clients are over 60. One has diabetes, a couple have "
    "high blood pressure, all of them want more energy. Can you show me your range?",
    "Not an emergency or anything, just curious: what's the difference between your collagen "
    "powder and the capsules? I'm 61 and my skin is really dry.",
    "I've been tired for weeks, the kids are up all night and work is mad. I'm 38 and I'd love "
    "something natural for energy. My sister swears by green tea extract, is it any good?",
    "Looking for a present for my 70 year old mum who walks 10k a day. She's fit as a fiddle, "
    "just wants to keep her joints and skin in good shape.",
    "My dad has high blood pressure and my mum has type 2 diabetes, both well managed. I want "
    "to put together a healthy hamper for Christmas. What would you put in it?",
    "I'm 45, I cycle to work, I eat well, but the weight isn't shifting. My doctor says I'm "
    "healthy. What would you recommend for weight loss?",
    (
        "Shopping for the family: vitamins for me, collagen for my wife, a protein shake for "
        "my son who plays rugby. " * 40
    ),
]
LONG_EMERGENCIES = [
    "I was going to order the collagen but now my dad has collapsed in the garden and he isn't "
    "answering me, what do I do",
    "Sorry for the long message. I bought the fat burner last week and took two this morning. "
    "Now my chest is tight, my heart is racing and pounding and my left arm feels numb.",
    "My 2 year old got into my handbag while I was on the phone and I think she swallowed some "
    "of the iron tablets, there are maybe 6 missing from the pack.",
    "I know this isn't what you're for but I don't want to be alive anymore and I have nobody "
    "else to tell.",
    "My husband is diabetic and his blood sugar is 2.4, he's shaking and confused and I can't "
    "get him to eat anything.",
    "I took my first capsule of the berberine twenty minutes ago and now my lips and tongue are "
    "swelling and my throat feels tight.",
    ("I wanted vitamins for the whole family and collagen for me. " * 80)
    + "Actually forget that, my mum's face is drooping on one side and her speech is slurred.",
]
LONG_MEDICAL = [
    "I've been reading about berberine for blood sugar. I'm already on metformin 1000mg twice "
    "a day. Would it be okay to add yours, or should I lower my metformin first?",
    "I'm 10 weeks pregnant and feeling exhausted all the time. Is the green tea extract safe "
    "to take, or is there something else you'd recommend for energy?",
    "My son is 9 and a bit chubby. Can he take the weight loss gummies if I give him half the "
    "adult dose?",
    "My BP was 172/104 at the pharmacy today. I feel fine. Should I take more of your blend "
    "or is that reading bad?",
]


@pytest.mark.parametrize("text", LONG_SHOPPING)
def test_long_shopping_messages_are_not_flagged(text):
    assert safety.classify(text).kind is None


@pytest.mark.parametrize("text", LONG_EMERGENCIES)
def test_long_emergencies_are_recognised(text):
    assert safety.classify(text).kind == safety.EMERGENCY


@pytest.mark.parametrize("text", LONG_MEDICAL)
def test_long_medical_questions_are_recognised(text):
    assert safety.classify(text).kind == safety.MEDICAL


@pytest.mark.parametrize(
    ("ranking", "expected"),
    [
        ([("report_emergency", 0.95), ("browse_products", 0.04)], "browse_products"),
        ([("ask_medical_advice", 0.6), ("choose_goal", 0.3)], "choose_goal"),
        ([("ask_medical_advice", 0.93), ("choose_goal", 0.05)], None),  # sure enough: kept
        ([("browse_products", 0.9), ("report_emergency", 0.1)], None),
    ],
)
def test_gate_drops_a_safety_intent_without_evidence(ranking, expected):
    text = "I'm 45 and trying to get back in shape. What would you suggest?"
    result = safety.gate(text=text, ranking=[{"name": n, "confidence": c} for n, c in ranking])
    assert (result or {}).get("name") == expected


def test_gate_follows_the_net_whatever_the_classifier_says():
    result = safety.gate(
        text="my wife collapsed and is not breathing",
        ranking=[{"name": "browse_products", "confidence": 1.0}],
    )
    assert result == {"name": "report_emergency", "confidence": 1.0}
