"""Medical-advice and emergency detection, and the wording the assistant answers with.

A keyword/regex safety net that works without the NLU model: the assistant consults it on
low-confidence turns and before any product pitch, so "chest pain" or "can I take this with
warfarin" never gets a sales answer even when the intent classifier is unsure or wrong.
Precision matters less than recall here: a false alarm costs one extra disclaimer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EMERGENCY = "emergency"
MEDICAL = "medical_advice"

EMERGENCY_GUIDANCE = (
    "This sounds like it could be an emergency. Please call your local emergency number "
    "now (911 in the US and Canada, 112 in the EU, 999 in the UK) or go to the nearest "
    "emergency department. If someone may have taken too much of something, call Poison "
    "Control (1-800-222-1222 in the US). Please don't wait for a reply from this chat."
)
MEDICAL_DISCLAIMER = (
    "I can only share general product information, not medical advice. Questions about "
    "doses, medicines, pregnancy, children, symptoms or diagnoses need a doctor or "
    "pharmacist who knows your health history — please talk to one before taking any "
    "supplement."
)

_EMERGENCY_PATTERNS = [
    r"chest (pain|tightness|pressure|hurts?|is (tight|hurting|heavy|burning))"
    r"|(pain|tightness|pressure) in (my |his |her )?chest",
    r"\b(arm|face|leg|side) (is |went |goes |going |feels )?numb\b|can'?t feel my (arm|face|leg)",
    r"heart (is )?(racing|pounding) and|worst headache",
    r"(can'?t|cannot|can not|struggling to|hard to|trouble) breath",
    r"short(ness)? of breath",
    r"heart attack",
    r"\bstroke\b",
    r"(passed|passing|pass) out|fainted|unconscious|(lost|losing|lose|stay|barely|not) conscious"
    r"|not breathing|stopped breathing",
    r"\bseizure|convuls",
    r"overdos|took too many|swallowed (a|the) (whole|bottle)",
    r"(severe|bad) (allergic reaction|bleeding)|anaphyla|throat (is )?(closing|swelling)",
    r"suicid|kill myself|end my life|want to die|hurt myself",
    r"face (is )?drooping|slurred speech|numb(ness)? (in|on) (my )?(arm|face|side)",
    r"\bemergency\b|call (an )?ambulance|\b911\b|\b112\b",
    r"blood sugar (is )?(very |really )?(low|high)|(sugar|glucose) (is |at )?[0-9]{2,3} and",
    r"lips (are |went |turning |turned )?blue|coughing (up )?blood|vomiting blood",
    r"(tongue|lips?|face|throat) (is |has |have )?(swell\w*|swollen)",
    r"gasping|can'?t get (any )?air|choking",
    r"collaps\w*|(won'?t|can'?t|not) wak\w* (him|her|them) up|unresponsive|very (sleepy|drowsy)",
    r"\b(i'?m|i am|am i|he'?s|she'?s) dying\b|don'?t want to (live|be alive)|no reason to live",
    r"\bo\.?d'?d\b|\bod'?ing\b",
    r"\b(ate|swallowed|took|got into) (a |the )?(whole|entire|all|pack|bottle|jar)\b"
    r"|got into the (pills|gummies|capsules|tablets|bottle|meds)",
]
_MEDICAL_PATTERNS = [
    r"\b(dose|dosage|doses|how (much|many) (should|can|do) i take|mg a day|milligrams?)\b",
    r"\b(medication|medicine|meds|prescription|insulin|metformin|warfarin|statins?"
    r"|blood thinner|lisinopril|beta ?blocker|antidepressant|ssri)\b",
    r"\b(stop|stopping|quit|replace|instead of|combine|combining|mix|mixing|together with)\b"
    r".{0,40}\b(med|pill|drug|insulin|prescription|treatment)",
    r"\b(pregnan\w*|breast ?feed\w*|nursing|trying to conceive)\b",
    r"\b(my|our) (child|kid|son|daughter|baby|toddler|teen)\b|\bfor (kids|children|a child)\b"
    r"|\b(my|our) \d{1,2}[ -]?(year|yr)[ -]?old\b",
    r"\b(interfere|react)\w* with\b|\b(bp|blood pressure|heart|diabetes) (pills|tablets|meds)\b",
    r"\b(diagnos\w*|do i have|is it (cancer|diabetes)|symptoms? of)\b",
    r"\b(cure|cures|heal|treat|treats|reverse|reverses)\b.{0,40}\b(diabetes|cancer|disease"
    r"|hypertension|blood pressure|illness|condition)\b",
    r"\b(side effects?|interact\w*|contraindicat\w*|safe (for|with) my)\b",
    r"\b(my doctor|prescribed|kidney disease|liver disease|heart condition|surgery)\b",
    r"\bhow (many|much) (capsules?|pills?|tablets?|gummies|scoops?)\b",
    r"\bper day is safe|\bis safe per day",
    r"\b\d{2,3}\s*/\s*\d{2,3}\b|\b(blood sugar|glucose|a1c|bp|pressure) (is|of|at|reading)\s+\d",
    r"\b(am i|i'?m|do you think i'?m|could i be) (diabetic|prediabetic|hypertensive)\b",
    r"\b(children|kids|a child|toddlers?|babies) (use|take|have)\b|\b(on|taking) (the pill|lithium"
    r"|birth control|chemo\w*|blood thinners?)\b",
]
_EMERGENCY_RE = re.compile("|".join(f"(?:{p})" for p in _EMERGENCY_PATTERNS), re.IGNORECASE)
_MEDICAL_RE = re.compile("|".join(f"(?:{p})" for p in _MEDICAL_PATTERNS), re.IGNORECASE)


@dataclass(frozen=True)
class SafetyVerdict:
    kind: str | None  # EMERGENCY | MEDICAL | None
    matched: str = ""  # the phrase that triggered it (kept in memory only, never stored)

    @property
    def is_emergency(self) -> bool:
        return self.kind == EMERGENCY

    @property
    def is_medical(self) -> bool:
        return self.kind == MEDICAL

    @property
    def flagged(self) -> bool:
        return self.kind is not None


def classify(text: str | None) -> SafetyVerdict:
    """Emergency wins over medical advice; ordinary shopping text returns kind None."""
    if not text:
        return SafetyVerdict(None)
    found = _EMERGENCY_RE.search(text)
    if found:
        return SafetyVerdict(EMERGENCY, found.group(0))
    found = _MEDICAL_RE.search(text)
    if found:
        return SafetyVerdict(MEDICAL, found.group(0))
    return SafetyVerdict(None)
