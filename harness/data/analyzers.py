"""Text analyzers for the BM25 reference representation: what turns a text into index terms.

``lucene_english`` imitates Lucene's ``EnglishAnalyzer`` (Lucene 9.9, the analyzer Anserini and
Pyserini index with by default), so that the reference BM25 of a text dataset is of the same kind
as the engines scored against it:

1. ``StandardTokenizer`` (Unicode word boundaries, UAX #29), approximated by a regular expression:
   runs of letters, digits and underscores, joined across ``.``, ``'``, ``’`` or ``:`` between
   letters (``U.S.A``, ``don't``) and across ``.``, ``,``, ``;`` or an apostrophe between digits
   (``3.14``, ``1,000``); everything else separates; each Han ideograph or Hiragana letter is a
   token of its own, a Katakana run another; combining marks stay with their letter.  Not imitated:
   the split of tokens longer than 255 characters and rarer rules.
2. ``EnglishPossessiveFilter``: a trailing ``'s`` (or ``’s``) is removed.
3. ``LowerCaseFilter``; 4. ``StopFilter`` with Lucene's 33 English stopwords (``LUCENE_STOPWORDS``).
5. ``PorterStemFilter``: Lucene's stemmer is Martin Porter's C implementation ("release 3") of his
   1980 algorithm.  PyStemmer's ``porter`` (Snowball's port of the 1980 algorithm) is used, with
   the C version's departures applied (``porter``): words of one or two letters are not stemmed;
   step 1b undoubles any final double consonant but l, s, z after removing -ed/-ing (Snowball only
   bb, dd, ff, gg, mm, nn, pp, rr, tt); step 2 maps ``-bli`` to ``-ble`` (the paper: only ``-abli`` to
   ``-able``) and ``-logi`` to ``-log``, after which steps 4 and 5 apply to the new ending, as in C.
   Checked against Lucene's own analyzer on every Cranfield, CISI and WordNet text
   (``tests/test_analyzers.py``).

``simple`` is the tokenizer the reference used before: lowercase runs of letters and digits, no
stemming, no stopwords.  ``ANALYZERS`` maps the names a recipe or the CLI uses to these functions.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Callable
from functools import lru_cache

LUCENE_STOPWORDS = frozenset("a an and are as at be but by for if in into is it no not of on or such that the "
                             "their then there these they this to was will with".split())

_IDEOGRAPH = "[\u3040-\u309f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]"  # Han, Hiragana
_KATAKANA = "[\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f]"


def _category_class(prefixes: tuple[str, ...]) -> str:
    """A regex character class of every code point whose Unicode category starts with ``prefixes``."""
    ranges, start, previous = [], None, None
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)).startswith(prefixes):
            if start is None:
                start = code
            previous = code
        elif start is not None:
            ranges.append(re.escape(chr(start)) + ("-" + re.escape(chr(previous)) if previous > start else ""))
            start = None
    return "[" + "".join(ranges) + "]"


@lru_cache(maxsize=1)
def _token_pattern() -> re.Pattern:
    """Built on first use (a scan of the Unicode table, ~0.5 s)."""
    marks = _category_class(("M",))  # combining marks stay with the letter before them (UAX #29 WB4)
    other_numbers = _category_class(("No",))  # ½, ²: neither letters nor digits to the tokenizer
    char = rf"(?:(?!{_IDEOGRAPH}|{_KATAKANA}|{other_numbers})\w{marks}*)"
    after_letter = rf"(?<=[^\W\d_]|{marks})"  # lookbehinds must be one character wide
    join = rf"(?:{after_letter}[.'’:](?=[^\W\d_])|(?<=\d)[.,;'’](?=\d))"
    return re.compile(rf"{_IDEOGRAPH}|{_KATAKANA}+|{char}+(?:{join}{char}+)*")


_SIMPLE = re.compile(r"[^\W_]+")
_VOWELS = frozenset("aeiou")


def simple(text: str) -> list[str]:
    """Lowercase runs of Unicode letters and digits (underscore separates); no stemming, no stopwords."""
    return _SIMPLE.findall(text.lower())


def _consonant(word: str, i: int) -> bool:
    """Porter's consonant: not a vowel, and ``y`` only after a vowel (or at the start)."""
    c = word[i]
    if c in _VOWELS:
        return False
    if c == "y":
        return i == 0 or not _consonant(word, i - 1)
    return True


def _measure(stem: str) -> int:
    """Porter's m: the number of vowel-consonant sequences in ``stem`` ([C](VC)^m[V])."""
    m, i, n = 0, 0, len(stem)
    while i < n and _consonant(stem, i):
        i += 1
    while i < n:
        while i < n and not _consonant(stem, i):
            i += 1
        if i == n:
            break
        m += 1
        while i < n and _consonant(stem, i):
            i += 1
    return m


def _cvc(word: str) -> bool:
    """Porter's *o: the word ends consonant-vowel-consonant, the last not w, x or y."""
    n = len(word)
    return (n >= 3 and _consonant(word, n - 1) and not _consonant(word, n - 2) and _consonant(word, n - 3)
            and word[-1] not in "wxy")


def _after_ble(word: str) -> str:
    """Steps 4 and 5 of the C stemmer on a word whose step 2 just ended it in ``-ble``."""
    for suffix in ("able", "ible"):
        if word.endswith(suffix) and _measure(word[: -len(suffix)]) > 1:
            return word[: -len(suffix)]  # step 4 removes it; step 5 then has no final e
    stem = word[:-1]  # step 5a: a final e goes when m > 1, or m = 1 and not *o
    m = _measure(stem)
    return stem if m > 1 or (m == 1 and not _cvc(stem)) else word


@lru_cache(maxsize=1)
def _snowball_porter():
    try:
        import Stemmer
    except ImportError as exc:  # PyStemmer is a core dependency; this names it if it went missing
        raise ImportError("the lucene-english analyzer needs PyStemmer (pip install PyStemmer==3.1.0)") from exc
    return Stemmer.Stemmer("porter")


# Endings at step 2 of the words the C version's rules below apply to (after step 1: -y → -i, -ies → -i).
_BLI_WORDS = ("bly", "bli", "blies")
_LOGI_WORDS = ("logy", "logi", "logies")
# Snowball undoubles only bb dd ff gg mm nn pp rr tt after removing -ed/-ing; C undoubles any
# consonant but l, s and z.
_C_ONLY_DOUBLES = frozenset("chjkqvwx")


@lru_cache(maxsize=200_000)
def porter(word: str) -> str:
    """Lucene's Porter stemmer (Porter's C release 3) on a lowercase word."""
    if len(word) <= 2:
        return word
    stemmed = _snowball_porter().stemWord(word)
    # Snowball leaves -bli / -logi from step 1 untouched (its step 2 knows only -abli), and no later
    # step changes such an ending, so the C version's rules can be applied to the result.
    if word.endswith(_BLI_WORDS) and stemmed.endswith("bli") and not stemmed.endswith("abli") \
            and _measure(stemmed[:-3]) > 0:
        return _after_ble(stemmed[:-1] + "e")
    if word.endswith(_LOGI_WORDS) and stemmed.endswith("logi") and _measure(stemmed[:-4]) > 0:
        return stemmed[:-1]
    if (len(stemmed) > 2 and stemmed[-1] == stemmed[-2] and stemmed[-1] in _C_ONLY_DOUBLES
            and word[len(stemmed):] in ("ed", "ing") and word.startswith(stemmed)):
        return stemmed[:-1]
    return stemmed


def lucene_english(text: str) -> list[str]:
    """Lucene's EnglishAnalyzer, imitated: tokens, possessives, lowercase, 33 stopwords, Porter."""
    out = []
    for token in _token_pattern().findall(text):
        if len(token) > 2 and token[-2] in "'’" and token[-1] in "sS":
            token = token[:-2]
        token = token.replace("İ", "i").lower()  # Java lowercases it to one letter, Python to two
        if token and token not in LUCENE_STOPWORDS:
            out.append(porter(token))
    return out


ANALYZERS: dict[str, Callable[[str], list[str]]] = {"lucene-english": lucene_english, "simple": simple}
