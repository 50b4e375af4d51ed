"""The compliance filter for customer-facing text built from trend headlines."""

from __future__ import annotations

import pytest

from backend.trends.compliance import is_compliant, problems, public_topic

HOSTILE = [
    ('Berberine, "nature\'s Ozempic"? What the blood sugar studies say', "berberine"),
    ("Berberine, nature\u2019s OZEMPIC, melts fat", "berberine"),
    ("This tea cures diabetes in 30 days", None),
    ("Ditch your metformin: cinnamon reverses diabetes", "cinnamon"),
    ("Beetroot: the natural alternative to blood pressure drugs", "beetroot"),
    ("Garlic treats hypertension better than statins", None),
    ("Collagen prevents Alzheimer's, doctors stunned", "collagen"),
    ("Wegovy vs semaglutide patches vs fiber: which wins for weight?", "fiber"),
    ("Gut health: probiotics that heal your gut and kill cancer", "gut health"),
    ("Skip the insulin with this low carb trick", "low carb"),
    ("GLP-1 in a pill? Natural GLP1 boosters for weight loss", None),
]


@pytest.mark.parametrize(("headline", "topic"), HOSTILE)
def test_hostile_headlines_become_a_neutral_topic_or_nothing(headline, topic):
    assert not is_compliant(headline)
    shown = public_topic(headline)
    assert shown == topic
    if shown is not None:
        assert is_compliant(shown)


@pytest.mark.parametrize(
    "headline",
    [
        "Intermittent fasting: what a 16:8 schedule looks like in practice",
        "Continuous glucose monitors go mainstream",
        "Collagen peptides for skin: what eight trials found",
    ],
)
def test_clean_headlines_are_shown(headline):
    assert problems(headline) == []
    assert public_topic(headline) == headline


def test_hints_are_preferred_and_must_be_clean_themselves():
    headline = "Nature's Ozempic: berberine and the blood sugar buzz"
    assert public_topic(headline, hints=["berberine", "ozempic"]) == "berberine"
    assert public_topic(headline, hints=["ozempic"]) == "berberine"  # first neutral topic
    assert public_topic("Ozempic and blood sugar", hints=["ozempic"]) == "blood sugar"


def test_long_headline_is_shortened_and_long_input_is_bounded():
    assert public_topic("fasting " * 30).endswith("…")
    assert public_topic("a" * 100_000 + " ozempic") is None  # the end of a long text counts too
    assert problems("x" * 100_000) == []
