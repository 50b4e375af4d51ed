"""What customers may read about a trend: no drug names, no disease or cure claims.

Trend headlines come from the outside world ("Berberine, nature's Ozempic?"). Quoted next to a
supplement they read as an implied drug or disease claim (FTC/FDA: a supplement may not claim to
diagnose, treat, cure or prevent a disease). Customer-facing text built from trends therefore
goes through `public_topic`: a clean headline is shown (shortened), a headline that fails the
filter is replaced by a neutral topic found in it ("gut health") or left out.

Every pattern is a plain alternation of words with word boundaries: linear time on any input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_TOPIC = 70  # characters shown of a clean headline

# Prescription drugs (brand and generic) and drug classes a supplement must not be compared to.
DRUG_NAMES = (
    "ozempic",
    "wegovy",
    "mounjaro",
    "zepbound",
    "saxenda",
    "rybelsus",
    "semaglutide",
    "tirzepatide",
    "liraglutide",
    "glp-1",
    "glp1",
    "metformin",
    "glucophage",
    "insulin",
    "jardiance",
    "januvia",
    "statin",
    "statins",
    "atorvastatin",
    "rosuvastatin",
    "simvastatin",
    "lipitor",
    "crestor",
    "lisinopril",
    "amlodipine",
    "losartan",
    "beta blocker",
    "beta blockers",
    "ace inhibitor",
    "ace inhibitors",
    "warfarin",
    "phentermine",
    "orlistat",
    "botox",
    "tretinoin",
    "viagra",
    "prescription",
    "drug",
    "drugs",
    "medication",
    "medications",
    "medicine",
    "pharmaceutical",
)
# Verbs of a disease claim (cure, treat, prevent, reverse ...) and disease names.
CLAIM_WORDS = (
    "cure",
    "cures",
    "cured",
    "curing",
    "treat",
    "treats",
    "treated",
    "treating",
    "treatment",
    "prevent",
    "prevents",
    "prevented",
    "preventing",
    "prevention",
    "reverse",
    "reverses",
    "reversed",
    "reversing",
    "heal",
    "heals",
    "healing",
    "remedy",
    "remedies",
    "fights",
    "kills",
    "eliminates",
    "miracle",
    "replaces",
    "replace",
    "alternative to",
    "instead of",
)
DISEASE_WORDS = (
    "diabetes",
    "diabetic",
    "prediabetes",
    "hypertension",
    "cancer",
    "cancers",
    "tumor",
    "tumour",
    "alzheimer",
    "alzheimer's",
    "dementia",
    "heart disease",
    "heart attack",
    "stroke",
    "obesity",
    "arthritis",
    "depression",
    "anxiety disorder",
    "covid",
    "infection",
    "disease",
    "diseases",
)
# Neutral wellness topics a failing headline may be summarised as (most specific first).
NEUTRAL_TOPICS = (
    "intermittent fasting",
    "gut health",
    "healthy aging",
    "heart health",
    "blood sugar",
    "skin care",
    "skincare",
    "sleep",
    "fiber",
    "protein",
    "collagen",
    "magnesium",
    "omega-3",
    "berberine",
    "cinnamon",
    "beetroot",
    "hibiscus",
    "probiotics",
    "electrolytes",
    "hydration",
    "low carb",
    "keto",
    "longevity",
    "antioxidants",
    "metabolism",
)


def _words(words: Iterable[str]) -> re.Pattern:
    alternation = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternation})(?![\w-])", re.IGNORECASE)


_DRUG = _words(DRUG_NAMES)
_CLAIM = _words(CLAIM_WORDS)
_DISEASE = _words(DISEASE_WORDS)
_NEUTRAL = _words(NEUTRAL_TOPICS)
_SPACES = re.compile(r"\s+")


def problems(text: str) -> list[str]:
    """Why `text` may not be shown to a customer (empty: it may)."""
    found = []
    lowered = _normalise(text)
    if _DRUG.search(lowered):
        found.append("drug name")
    if _CLAIM.search(lowered):
        found.append("claim wording")
    if _DISEASE.search(lowered):
        found.append("disease name")
    return found


def is_compliant(text: str) -> bool:
    return not problems(text)


def public_topic(headline: str, *, hints: Iterable[str] = ()) -> str | None:
    """A headline fit to show next to a product, a neutral topic instead, or None.

    `hints` are extra neutral words to look for first (e.g. the matched product's keywords);
    a hint is only used when it passes the filter itself.
    """
    text = _SPACES.sub(" ", headline or "").strip()
    if not text:
        return None
    if is_compliant(text):
        return _short(text)
    lowered = _normalise(text)
    clean_hints = [h for h in hints if h and is_compliant(h)]
    if clean_hints:
        hit = _words(clean_hints).search(lowered)
        if hit:
            return hit.group(0).lower()
    hit = _NEUTRAL.search(lowered)
    return hit.group(0).lower() if hit else None


def _normalise(text: str) -> str:
    # Curly quotes/apostrophes and dashes as plain ones, so "nature’s Ozempic" is caught.
    return (
        text.replace("\u2019", "'")
        .replace("\u2018", "'")
        .replace("\u2010", "-")
        .replace("\u2011", "-")
        .replace("\u2013", "-")
    )


def _short(topic: str, limit: int = MAX_TOPIC) -> str:
    return topic if len(topic) <= limit else topic[: limit - 1].rsplit(" ", 1)[0] + "…"
