"""When a chat answer is clear enough to count as a "yes" with legal weight.

Consent (privacy, health data, marketing, receipts) and an order confirmation must be given
"by a clear affirmative act" (GDPR art. 4(11), 7). The intent classifier is no evidence of that:
10,000 characters of "AAAA…" come out as `affirm` at confidence 1.0 and "x" at 0.51. So a yes
counts only when it is a button (payload `/affirm`, which the Twilio channel also produces for a
typed menu number) or a short message made only of plain affirmative words ("yes", "ok",
"sure, go ahead", "I agree", "oui", "ja", "tak", "sim", "sí"…). Anything else is asked again.
A "no" needs no such proof: declining never stores or sends anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

AFFIRM_INTENT = "affirm"
AFFIRM_PAYLOAD = "/affirm"
MAX_TYPED_CHARS = 40  # "yes, I agree, please go ahead" is 29; a clear yes is never long
MAX_TYPED_WORDS = 8
REASK = "Please answer yes or no, or use the buttons."

# Whole answers that are a yes without a yes word
YES_PHRASES = frozenset(
    {"of course", "sounds good", "go ahead", "go for it", "please do", "bien sûr", "d'accord",
     "natürlich", "oczywiście", "por supuesto", "pode ser", "claro que sim"}
)  # fmt: skip
# At least one of these must be present ("please" alone is not a yes) ...
YES_WORDS = frozenset(
    """yes yeah yea yep yup ok okay sure agree agreed accept accepted consent confirm confirmed
    absolutely definitely certainly alright fine correct si sí oui ja jawohl tak sim claro haan
    """.split()  # noqa: SIM905
)
# ... and every other word must be one of these: no "not", "but", "don't", no other content.
FILLER_WORDS = frozenset(
    """i i'm im we do will can please pls go ahead on it that's thats is that sounds good
    course of thing for it's its me with to the terms privacy policy all great bien d'accord bitte
    gerne proszę pode por favor ji""".split()  # noqa: SIM905
)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")  # letters only, "that's" kept whole


@dataclass(frozen=True)
class ConsentAnswer:
    """Whether a yes counts, and the reason to ask again when it does not."""

    clear: bool
    reason: str | None = None


def is_clear_affirmation(*, text: str, intent: str | None, via_button: bool) -> ConsentAnswer:
    """A button's `/affirm`, or a short typed answer made only of plain affirmative words."""
    if intent != AFFIRM_INTENT:
        return ConsentAnswer(False, REASK)
    if via_button:
        return ConsentAnswer(True)
    if len(text) > MAX_TYPED_CHARS:
        return ConsentAnswer(False, REASK)
    words = _WORD.findall(text.casefold().replace("’", "'"))
    if " ".join(words) in YES_PHRASES:
        return ConsentAnswer(True)
    if (
        not words
        or len(words) > MAX_TYPED_WORDS
        or not any(w in YES_WORDS for w in words)
        or not all(w in YES_WORDS or w in FILLER_WORDS for w in words)
    ):
        return ConsentAnswer(False, REASK)
    return ConsentAnswer(True)


def is_clear_choice(*, text: str, via_button: bool) -> ConsentAnswer:
    """A choice with legal weight (which channels may carry marketing): a button, or short text."""
    if via_button or len(text) <= MAX_TYPED_CHARS:
        return ConsentAnswer(True)
    return ConsentAnswer(False, "Please tap the channels you want, or type them in a few words.")


def is_button_payload(text: str) -> bool:
    """True when the message is a button's payload (`/intent` or `/intent{...}`): Rasa passes
    it as the text; the Twilio channel turns a typed menu number into it."""
    return text.startswith("/") and len(text) <= 200
