"""Is a message in a language the assistant speaks? A small linear-time heuristic.

The assistant speaks English only. `detect` says `emoji` for a message with no letters or
digits (emoji, symbols), `other` for a message mostly in a non-Latin script or whose function
words are Spanish, French, German, Italian, Portuguese or Dutch rather than English, and `en`
otherwise (names, product names, numbers, emails and typos stay `en`). One pass over at most
MAX_CHARS characters; no model.
"""

from __future__ import annotations

import re
import unicodedata

ENGLISH, OTHER, EMOJI = "en", "other", "emoji"
SPOKEN = "English"
MAX_CHARS = 2_000
# Emoji that say something themselves (a yes, a no, a wave).
EMOJI_INTENTS = {
    "👍": "affirm",
    "👌": "affirm",
    "✅": "affirm",
    "👎": "deny",
    "❌": "deny",
    "👋": "greet",
}

_WORD_RE = re.compile(r"[^\W\d_]+")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_ENGLISH_WORDS = _words(
    "the a an and or but i you he she we they it is are was am be have has do does did can "
    "could would should will my your his her our their me him us them this that what which "
    "who how why when where for with to of in on at from about please thanks thank yes no "
    "not any some hi hello hey want need like"
)
_FOREIGN_WORDS = (
    _words(
        # es
        "el la los las un una y o pero yo tú usted es son está estoy tengo quiero necesito para "
        "con de del por qué como cómo cuál dónde hola gracias buenos buenas días por favor sí "
        "puedo puede mi mis su sus muy también "
        # fr
        "le les une et ou mais je tu il elle nous vous ils est sont suis ai avez veux voudrais "
        "pour avec dans sur du des bonjour bonsoir merci oui non pas ce cette mon ma mes quel "
        "quelle où combien "
        # de
        "der die das ein eine und oder aber ich du er sie wir ihr ist sind bin habe haben möchte "
        "brauche für mit von zu auf guten tag hallo danke bitte ja nein nicht kein keine mein "
        "meine was wie wo gibt es "
        # it, pt, nl
        "il lo gli della sono ciao grazie buongiorno vorrei per favore olá obrigado obrigada "
        "você vocês em tem têm eu quero preciso não sim bom dia boa tarde "
        "het een ik je jij wij zijn heb wil "
        "voor met goedemiddag dank bedankt alsjeblieft"
    )
    - _ENGLISH_WORDS
)


def detect(text: str | None) -> str:
    """`en`, `other` (another language or script) or `emoji` (no letters or digits at all)."""
    text = (text or "").strip()[:MAX_CHARS]
    if not text or text.startswith("/"):
        return ENGLISH
    letters = latin = 0
    symbols = False
    for char in text:
        if char.isalpha():
            letters += 1
            latin += "LATIN" in unicodedata.name(char, "")
        elif char.isdigit():
            return _by_words(text)  # numbers, phone numbers, order ids: not emoji-only
        elif unicodedata.category(char) in ("So", "Sk", "Cs") or ord(char) >= 0x1F000:
            symbols = True
    if not letters:
        return EMOJI if symbols else ENGLISH
    if latin < letters / 2:
        return OTHER
    return _by_words(text)


def _by_words(text: str) -> str:
    words = _WORD_RE.findall(text.lower())
    english = sum(w in _ENGLISH_WORDS for w in words)
    foreign = sum(w in _FOREIGN_WORDS for w in words)
    if foreign and foreign > 2 * english and (foreign >= 2 or len(words) <= 2):
        return OTHER
    return ENGLISH


def emoji_intent(text: str | None) -> str | None:
    """The intent an emoji-only message means by itself (👍 → affirm), else None."""
    marks = {EMOJI_INTENTS.get(c) for c in (text or "").strip() if not c.isspace()}
    marks.discard(None)
    return marks.pop() if len(marks) == 1 else None
