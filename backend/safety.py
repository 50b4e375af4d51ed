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

# Patterns look within one sentence ([^.?!\n] windows of bounded width), so every one runs in
# linear time and a long shopping message cannot string distant words together.
_S = r"[^.?!\n]"  # a character of the same sentence
_WHO = (
    r"(i|he|she|they|we|someone|somebody|my \w+|our \w+|his \w+|her \w+|mum|mom|dad|husband"
    r"|wife|son|daughter|baby|grandma|grandpa|friend)"
)
_EMERGENCY_PATTERNS = [
    r"chest (pain|tightness|pressure|hurts?|is (tight|hurting|heavy|burning)|feels tight)"
    r"|(pain|tightness|pressure) in (my |his |her )?chest|chest is (really |very )?tight",
    r"\b(arm|face|leg|side) (is |went |goes |going |feels )?numb\b|can'?t feel my (arm|face|leg)"
    r"|\b(arm|face|leg|side) is numb|numb(ness)? (in|on) (my |his |her )?(left |right )?(arm|face"
    r"|side)|can'?t lift (his|her|my) (\w+ )?arm",
    r"heart (is )?(racing|pounding) and|worst headache",
    r"(can'?t|cannot|can not|struggling to|hard to|trouble|couldn'?t) (catch (my|his|her) )?breath"
    r"|short(ness)? of breath|wheezing|gasping|can'?t get (any )?air",
    r"\b(having|just had|is having|'s having|may be having|might be having|am having|i'?m having)"
    r" (a |another )?(stroke|heart attack|seizure|fit|hypo|allergic reaction|panic attack and)\b"
    r"|\b(is (this|it)|could (this|it) be|think (it'?s|this is)) (a |an )?(stroke|heart attack)\b",
    r"(passed|passing|pass) out|fainted|unconscious|(lost|losing|lose) consciousness"
    r"|(barely|not) conscious|not breathing|stopped breathing|not breathing properly",
    r"\bseizure|convuls|won'?t stop shaking",
    r"overdos|\btook (way )?too many|taken too many|\btoo many (of )?(the |my |his |her )?(pills"
    r"|tablets|capsules|gummies)",
    r"(severe|bad|serious) (allergic reaction|bleeding)|anaphyla|throat (is |feels )?(closing"
    r"|swelling|tight)|won'?t stop bleeding|lot of blood|bleeding (badly|heavily)",
    r"suicid|kill(ing)? myself|end my life|end it all|want to die|hurt(ing)? myself"
    r"|don'?t want to (live|be alive)|no reason to live|\b(i'?m|i am|he'?s|she'?s) dying\b",
    r"face (is )?drooping|drooping (on one side|face|mouth)|mouth (is )?drooping|slurred"
    r"|can'?t (talk|speak) properly",
    r"medical emergency|(this is|it'?s|it is|we have|there'?s) an emergency|^\W*emergency\b"
    r"|call(ed|ing)? (an )?ambulance|(call|dial)(ed|ing)? (911|112|999)\b",
    r"(sugar|glucose)\w*( level)? (is |was |went |has gone |feels )?(very|really|dangerously"
    r"|super|extremely|way too) (low|high)|(meter|glucometer) (says|reads|shows) (hi|high|lo)\b"
    r"|(shaking|sweating|confused)\w* and (shaking|sweating|sweaty|confused|not making sense)",
    r"lips (are |went |turning |turned |look |looking )?(blue|purple)|coughing (up )?blood"
    r"|vomiting blood",
    r"(tongue|lips?|face|throat|mouth) (and (tongue|lips?|face|throat) )?(is |are |has |have )?"
    r"(start\w* )?(swell\w*|swollen)",
    r"\bchoking\b(?! hazard)",
    _WHO + r" (just |has |suddenly )?collaps\w*|collapsed (and|on|in) |(won'?t|can'?t|not|cannot)"
    r" wak\w* (him|her|them|up)|unresponsive|(very|really|extremely) (sleepy|drowsy)"
    r"|\bon the floor\b",
    r"\bo\.?d'?d\b|\bod'?ing\b|\b(take|taking|took|end) (my|his|her|their) own life",
    r"black(ing|ed)? out|went black|\bfainting|stay conscious|\bhypo\b|(very|really|dangerously)"
    r" (low|high) (blood )?(sugar|glucose)|\b(took|taken|swallowed|ate) (like |about |around )?"
    r"\d{1,3} \w+ and (can'?t|now|i'?m|he'?s|she'?s)|\bate (most|all|half) of (it|them|the)\b",
    r"\b(ate|swallowed|took|got into) (a |the )?(whole|entire|all|pack|bottle|jar|load|lot|handful)"
    r"\b|got into (the |my |a )?(bottle|pills|gummies|capsules|tablets|meds)|\b(swallowed|ate)"
    r" (some|a few|several|\d+) (of )?(my |the |your |his |her )?\w* ?(pills|gummies|capsules"
    r"|tablets|vitamins)|empty bottle of pills|(hit|banged) (his|her|my) head",
]
# Emergency wording that is negated ("not an emergency") or history ("had a stroke in 2015")
# is no evidence: checked just before and just after the phrase, a bounded window.
_NEGATED_BEFORE = re.compile(
    r"\b(no|not|never|without|isn'?t|wasn'?t|no sign of)\W+(\w+\W+)?$", re.I
)
_HISTORY_AFTER = re.compile(
    r"^\W*(\w+\W+){0,3}(years? ago|months ago|last (year|month)|in (19|20)\d\d|back in"
    r"|scare|and (he'?s|she'?s|is|recovered) (fine|well|recovered))",
    re.I,
)
_MEDICATION = (
    r"(medications?|medicines?|meds|prescriptions?|insulin|metformin|warfarin|statins?|lisinopril"
    r"|blood thinners?|beta ?blockers?|aspirin|ibuprofen|\w+(pril|sartan|olol|statin|dipine|formin"
    r"|azide|clazide|roxine|traline|oxetine|prazole|nisone|solone|gliptin|flozin|glutide)"
    r"|antidepressants?|ssris?|chemo\w*|lithium|the pill"
    r"|contraceptive pill|birth control|thyroid (medication|meds|tablets)|heart pills"
    r"|(bp|blood pressure|heart|diabetes|cholesterol) (pills|tablets|meds|medication))"
)
_CHILD = (
    r"(child|children|kids?|son|daughter|baby|babies|toddlers?|teen\w*|little one"
    r"|\d{1,2}[ -]?(year|yr)s?[ -]?old)"
)
_MEDICAL_PATTERNS = [
    r"\b(dose|dosage|doses|mg a day|milligrams?)\b|how (much|many) (should|can|do) (i|we|he|she)"
    r" (take|give|have)|maximum (dose|amount)|double up",
    r"\b(on|taking|take|takes|took|stop|stopped|stopping|quit|replace|instead of|combine|combining"
    r"|mix|mixing|with|reduce|my|his|her) " + _S + r"{0,20}\b" + _MEDICATION + r"\b",
    r"\b(stop|stopping|quit|replace|instead of|combine|combining|mix|mixing|together with)\b"
    + _S
    + r"{0,40}\b(meds?|pills?|drugs?|insulin|prescriptions?|treatments?|medications?)\b",
    r"\b(pregnan\w*|breast ?feed\w*|while nursing|nursing (my|a) baby|trying to conceive)\b",
    r"\b(can|could|should|safe|okay|ok|give|giving)\b" + _S + r"{0,25}\b(my|our|a|for) "
    r"(\w+ )?" + _CHILD + r"\b" + _S + r"{0,25}\b(take|have|use|give|dose|at (his|her) age)\b"
    r"|\b(give|giving) (\w+ ){0,3}(to )?(my|our) "
    + _CHILD
    + r"|(safe|ok|okay) for (my |our )?(\w+ )?"
    + _CHILD
    + r"|\b(children|kids|a child|toddlers?|babies) (use|take|have)\b|\bfor (kids|children)\b"
    r"|\bfor (my|our) \d{1,2}[ -]?(year|yr)s?[ -]?old(?=\W*$|\W*[?.!,]| (son|daughter|kid|child"
    r"|boy|girl))|\b(ok|okay|safe|fine) at (his|her|their|my) age|\b(can|could) (my|our) (\w+ )?"
    + _CHILD
    + r" (take|have|use)\b",
    r"\b(interfere|react)\w* with\b|\binteract(s|ion|ions|ing)?\b|contraindicat\w*",
    r"\b(diagnose|do i have (diabetes|high blood pressure|hypertension|cancer)|is (it|this)"
    r" (cancer|diabetes)|symptoms? of)\b|\b(am i|do you think i'?m|could i be|is (he|she))"
    r" (diabetic|prediabetic|hypertensive)\b",
    r"\b(cure|cures|heal|heals|treat|treats|reverse|reverses|fix|fixes)\b" + _S + r"{0,40}\b"
    r"(diabetes|cancer|disease|hypertension|illness|condition|it)\b",
    r"\b(cure|cures|cured|curing|reverse|reverses|reversing)\b|\bget rid of (my|his|her)"
    r" (diabetes|high blood pressure|hypertension|\w+ disease)|\b(think|worried) (i|he|she)"
    r" (have|has|might have|may have) (diabetes|high blood pressure|hypertension|\w+ disease)",
    r"\b(get off|come off|coming off) (my |his |her |the )?" + _MEDICATION + r"|trying for a baby",
    r"\b\d{2,3} over \d{2,3}\b|\b(sugar|glucose|bp|pressure) readings?\b",
    r"\bside effects?\b|\bsafe (for|with) (me|my)\b|\bsafe for (him|her)\b",
    r"\b(kidney|liver) (disease|function|problems?)|heart condition|had surgery|after (my |the )?"
    r"surgery|\bdizzy after|cut the dose",
    r"\bhow (many|much) (capsules?|pills?|tablets?|gummies|scoops?)" + _S + r"{0,30}(a day|per day"
    r"|daily|dangerous|safe|should)",
    r"\bper day is safe|\bis safe per day|without it being dangerous",
    r"\b(9\d|1\d\d|2[0-4]\d)\s*/\s*([4-9]\d|1[0-4]\d)\b|\b(blood sugar|glucose|a1c|bp|pressure)"
    r" (is|was|of|at|reading)\s+\d|\b(a1c|hba1c)\b",
    r"\bwhen can i start taking\b|is (that|it) (bad|normal|dangerous)\b" + _S + r"{0,40}\?",
]
# Text is lower-cased once before matching (faster than IGNORECASE on every branch).
_EMERGENCY_RE = re.compile("|".join(f"(?:{p})" for p in _EMERGENCY_PATTERNS))
_MEDICAL_RE = re.compile("|".join(f"(?:{p})" for p in _MEDICAL_PATTERNS))
# A blood-sugar reading: very low (hypoglycaemia) or very high readings are emergencies.
_SUGAR_READING_RE = re.compile(
    r"\b(blood sugar|sugar|glucose|bg)\w*( level| reading)? (is |was |at |of |reads |read |dropped"
    r" to |down to |went to |up to )?(only |just )?(\d{1,3}(\.\d)?)\b",
    re.IGNORECASE,
)
INTENT_FOR = {EMERGENCY: "report_emergency", MEDICAL: "ask_medical_advice"}
SAFETY_INTENTS = frozenset(INTENT_FOR.values())
# The classifier alone may ask for the medical-advice answer only when this sure: it says
# ask_medical_advice for ordinary messages that mention an illness in the family.
MEDICAL_THRESHOLD = 0.9
MAX_CHARS = 20_000  # longer text is cut before matching: every edge caps size (DESIGN rule 9)


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
    """Emergency wins over medical advice; ordinary shopping text returns kind None.

    Emergency needs explicit evidence: an acute phrase that is neither negated ("no chest
    pain") nor history ("had a heart attack two years ago"), or a dangerous blood-sugar reading.
    """
    if not text:
        return SafetyVerdict(None)
    text = text[:MAX_CHARS].lower()
    for found in _EMERGENCY_RE.finditer(text):
        before = text[max(0, found.start() - 20) : found.start()]
        after = text[found.end() : found.end() + 40]
        if _NEGATED_BEFORE.search(before) or _HISTORY_AFTER.search(after):
            continue
        return SafetyVerdict(EMERGENCY, found.group(0))
    reading = _dangerous_sugar_reading(text)
    if reading:
        return SafetyVerdict(EMERGENCY, reading)
    found = _MEDICAL_RE.search(text)
    if found:
        return SafetyVerdict(MEDICAL, found.group(0))
    return SafetyVerdict(None)


def _dangerous_sugar_reading(text: str) -> str:
    """A very low or very high blood-sugar reading (mmol/L or mg/dL), else ''."""
    for found in _SUGAR_READING_RE.finditer(text):
        value = float(found.group(5))
        mmol = "." in found.group(5) or value < 35
        low, high = (3.5, 25.0) if mmol else (60.0, 400.0)
        if 0 < value <= low or value >= high:
            return found.group(0)
    return ""


def gate(
    *, text: str | None, ranking: list[dict], medical_threshold: float = MEDICAL_THRESHOLD
) -> dict | None:
    """The intent the bot acts on, given the classifier's ranking (best first).

    Emergency only with the net's evidence, whatever the classifier says; medical advice on
    the net's wording or a confident classifier. A safety intent without that is dropped and the
    next intent of the ranking wins. None: keep the classifier's choice.
    """
    verdict = classify(text)
    if verdict.flagged:
        return {"name": INTENT_FOR[verdict.kind], "confidence": 1.0}
    top = ranking[0] if ranking else None
    if not top or top.get("name") not in SAFETY_INTENTS:
        return None
    if top["name"] == INTENT_FOR[MEDICAL] and top.get("confidence", 0.0) >= medical_threshold:
        return None
    rest = [r for r in ranking if r.get("name") not in SAFETY_INTENTS]
    return dict(rest[0]) if rest else {"name": "out_of_scope", "confidence": 0.0}


# --- what the person sees, for evaluations (benchmarks/safety_eval.py, training comparisons) --
NO_SCRIPT = "none"
EXPECTED_OUTCOME = {intent: kind for kind, intent in INTENT_FOR.items()}


def outcome(text: str, intent: str | None) -> str:
    """The script a message with this final intent gets: EMERGENCY only when the emergency
    action's own check finds the wording; MEDICAL for medical advice (or an unconfirmed
    emergency, which that action answers so); else NO_SCRIPT."""
    verdict = classify(text)
    if verdict.is_emergency:
        return EMERGENCY
    if intent in SAFETY_INTENTS or verdict.is_medical:
        return MEDICAL
    return NO_SCRIPT
