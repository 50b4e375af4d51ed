"""Text normalisation shared by trends and products: clean, split hashtags, tokens, keywords.

Both sides of a match go through the same `tokens()`, so the light stemmer only has to be
consistent, not linguistically perfect.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from functools import lru_cache

URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
HANDLE_RE = re.compile(r"(?<![\w@])@\w{1,30}")
TAG_RE = re.compile(r"<[^>]+>")
HASHTAG_RE = re.compile(r"#(\w+)")
# Emoji and pictographs, dingbats, variation selectors, zero-width joiners, flags.
EMOJI_RE = re.compile(
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U0001f1e6-\U0001f1ff\u200d\ufe0e\ufe0f\u2b50\u2b55]"
)
WORD_RE = re.compile(r"[a-z0-9]+")
CAMEL_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
SPACE_RE = re.compile(r"\s+")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOP_WORDS = _words(
    """
    a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers him his how i if in into is it its
    itself just me more most my no nor not now of off on once only or other our ours out
    over own same she should so some such than that the their theirs them then there these
    they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours new via get got amp rt one also us may
    might says said like
    """
)

# Words for splitting all-lowercase hashtags (#guthealth → "gut health"). Kept small on
# purpose: health vocabulary plus common glue words; unknown runs stay as one token.
HASHTAG_WORDS = _words(
    """
    gut health healthy heart blood pressure sugar low high carb carbs keto diet weight loss
    lose fat burn burning fit fitness life living style lifestyle well wellness being self
    care skin care skincare anti aging age collagen protein fiber fibre vitamin vitamins
    mineral omega fish oil green tea coffee sleep stress mind body clean eating eat food
    foods plant based vegan meal prep intermittent fasting fast gluten free dairy immune
    immunity boost energy glow beauty hair nail joint joints bone bones muscle strength
    workout run running walk walking yoga pilates cardio hiit home daily routine tips
    natural organic supplement supplements herbal herbs tea detox hydration water salt
    sodium potassium magnesium zinc iron calcium probiotic probiotics prebiotic biotic
    insulin glucose diabetes diabetic metabolic metabolism longevity wrinkle wrinkles smooth
    younger mediterranean nutrition nutrient nutrients superfood superfoods berry berries
    beet root turmeric ginger cinnamon apple cider vinegar bone broth matcha mushroom
    mushrooms sea moss hypertension cholesterol balance hormone hormones women men mom over
    forty fifty day week challenge journey goals goal transformation summer body mental
    movement active habit habits real whole grain
    """
)


def strip_html(text: str) -> str:
    return html.unescape(TAG_RE.sub(" ", text))


def clean_text(text: str) -> str:
    """Remove HTML, URLs and emoji; collapse whitespace. Case and hashtags are kept."""
    text = strip_html(text or "")
    text = URL_RE.sub(" ", text)
    text = EMOJI_RE.sub(" ", text)
    return SPACE_RE.sub(" ", text).strip()


def snippet(text: str, limit: int = 280) -> str:
    """A short public excerpt: cleaned, without @handles or URLs, cut at a word boundary."""
    text = SPACE_RE.sub(" ", HANDLE_RE.sub(" ", clean_text(text))).strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.-") + "…"


@lru_cache(maxsize=4096)
def split_hashtag(tag: str) -> str:
    """'#LowCarbLife' → 'low carb life'; '#guthealth' → 'gut health'; unknown → as is."""
    tag = tag.lstrip("#").replace("_", " ").strip()
    if any(c.isupper() for c in tag[1:]) or " " in tag:
        parts = [p for chunk in tag.split() for p in CAMEL_RE.findall(chunk)]
        return " ".join(parts).lower() if parts else tag.lower()
    return " ".join(_segment(tag.lower()))


def _segment(word: str) -> list[str]:
    """Split a lowercase run into known words (fewest pieces); keep it whole if impossible."""
    n = len(word)
    best: list[list[str] | None] = [None] * (n + 1)
    best[0] = []
    for end in range(1, n + 1):
        for start in range(max(0, end - 16), end):
            piece = word[start:end]
            if best[start] is None:
                continue
            if piece in HASHTAG_WORDS or piece.isdigit():
                candidate = best[start] + [piece]
                if best[end] is None or len(candidate) < len(best[end]):
                    best[end] = candidate
    return best[n] if best[n] is not None and len(best[n]) > 1 else [word]


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Light suffix stripping (plurals, -ing, -ed) so 'supplements' meets 'supplement'."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("ing") and len(word) > 5:
        base = word[:-3]
        return base[:-1] if len(base) > 2 and base[-1] == base[-2] else base
    if word.endswith("ed") and len(word) > 5:
        base = word[:-2]
        return base[:-1] if len(base) > 2 and base[-1] == base[-2] else base
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def expand_hashtags(text: str) -> str:
    return HASHTAG_RE.sub(lambda m: " " + split_hashtag(m.group(1)), text)


@lru_cache(maxsize=65536)
def _token(word: str) -> str:
    """The stemmed token of a lowercase word, or '' for stop words and single letters."""
    return "" if word in STOP_WORDS or len(word) < 2 else stem(word)


def tokens(text: str) -> list[str]:
    """Cleaned, hashtag-split, lowercased, stop-word-free, stemmed tokens in text order."""
    # Same result as tokenising clean_text(): emoji and punctuation never form [a-z0-9]
    # words anyway; the checks skip regex passes that would find nothing (this runs per post).
    if "<" in text or "&" in text:
        text = strip_html(text)
    if "://" in text or "www." in text:
        text = URL_RE.sub(" ", text)
    if "@" in text:
        text = HANDLE_RE.sub(" ", text)
    if "#" in text:
        text = expand_hashtags(text)
    return [t for t in map(_token, WORD_RE.findall(text.lower())) if t]


def phrase_key(phrase: str) -> str:
    """A catalog term's index key: its tokens joined ('Blood Pressures' → 'blood pressure')."""
    return " ".join(tokens(phrase))


def terms(toks: list[str], max_n: int = 3) -> set[str]:
    """Every 1- to max_n-gram of the tokens: the keys looked up in the product index."""
    found = set(toks)
    for n in range(2, max_n + 1):
        for i in range(len(toks) - n + 1):
            found.add(" ".join(toks[i : i + n]))
    return found


def keywords(text: str, limit: int = 10) -> list[str]:
    """The most frequent tokens (ties by first appearance): what a trend is about."""
    counts = Counter(tokens(text))
    return [word for word, _ in counts.most_common(limit)]


def headline(text: str, limit: int = 100) -> str:
    """A post's topic: its first line, cleaned, handles removed, hashtags split."""
    first = next((line for line in (text or "").splitlines() if line.strip()), "")
    first = expand_hashtags(HANDLE_RE.sub(" ", clean_text(first)))
    return snippet(first, limit)
