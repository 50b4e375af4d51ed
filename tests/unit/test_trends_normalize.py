"""Text normalisation: cleaning, hashtag splitting, tokens, snippets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.trends.normalize import (
    clean_text,
    headline,
    keywords,
    phrase_key,
    snippet,
    split_hashtag,
    stem,
    terms,
    tokens,
)


@pytest.mark.parametrize(
    ("tag", "words"),
    [
        ("#LowCarbLife", "low carb life"),
        ("#BloodSugarBalance", "blood sugar balance"),
        ("#guthealth", "gut health"),
        ("#antiaging", "anti aging"),
        ("#applecidervinegar", "apple cider vinegar"),
        ("#HIIT", "hiit"),
        ("#keto", "keto"),
        ("#over40fitness", "over 40 fitness"),
        ("#zzqx", "zzqx"),  # unknown lowercase run stays whole
        ("#Low_Carb", "low carb"),
    ],
)
def test_split_hashtag(tag, words):
    assert split_hashtag(tag) == words


def test_clean_text_removes_html_urls_and_emoji():
    text = "<p>Beet&nbsp;juice 🚀🔥 works</p> https://t.co/abc www.example.org/x ❤️"
    assert clean_text(text) == "Beet juice works"


def test_tokens_lowercase_stem_drop_stop_words_handles_and_split_hashtags():
    got = tokens("The @DrJoe says: Supplements & berries help! #IntermittentFasting https://t.co/x")
    assert got == ["supplement", "berry", "help", "intermittent", "fast"]
    assert "drjoe" not in got


def test_light_stemming_is_consistent_for_plural_and_ing_forms():
    assert stem("supplements") == stem("supplement") == "supplement"
    assert stem("berries") == "berry"
    assert stem("fasting") == stem("fast")
    assert stem("glass") == "glass"  # -ss is not a plural


def test_phrase_key_and_terms_give_matching_ngrams():
    assert phrase_key("Blood Pressure") == "blood pressure"
    assert {"blood", "pressure", "blood pressure", "healthy blood pressure"} <= terms(
        tokens("healthy blood pressure")
    )


def test_keywords_are_most_frequent_tokens():
    assert keywords("collagen collagen skin glow skin collagen", limit=2) == ["collagen", "skin"]


def test_snippet_strips_handles_urls_and_cuts_at_280():
    text = "@someone " + "collagen glow " * 40 + " https://x.com/p/1"
    out = snippet(text)
    assert len(out) <= 280 and "@" not in out and "http" not in out
    assert out.endswith("…")


def test_headline_is_first_line_with_hashtags_split():
    assert headline("#GutHealth tips from @coach\nsecond line") == "gut health tips from"


@given(st.text(max_size=400))
def test_snippet_never_exceeds_limit_or_keeps_handles(text):
    out = snippet(text)
    assert len(out) <= 280
    assert not any(
        part.startswith("@") and len(part) > 1 and part[1].isalnum() for part in out.split()
    )
