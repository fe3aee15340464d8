"""Gold grading: an answer to a document's gold question, graded by the gold answer's content words.

No model is involved: the gold answer (a source column, or the wiki-vital article's one-line description such as
"Capital of Estonia") is reduced to its content words (lowercased, punctuation and function words dropped, a
plural 's' stripped, a parenthetical aside dropped), and an answer's grade is the share of them it contains.
"Tallinn is the capital city of Estonia." gets 1.0 for "Capital of Estonia"; "Tallinn is a city in Finland."
gets 0.0 (no 'capital', no 'estonia'). A grade at or above `evaluate.gold_threshold` counts as correct. A gold
answer with no content word cannot be graded and is left out (counted in the manifest). Words are matched, not
meanings: "a mistake in reasoning" misses "faulty reasoning"'s 'faulty', so the grade is a lower bound.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9]+")
_ASIDE = re.compile(r"\([^)]*\)")
_FUNCTION_WORDS = """
    a an the of and or in on at by for to from with without into onto as is are was were be been being it its
    this that these those which who whom whose what when where why how than then there their they he she his her
    him them we our you your i me my not no nor but so such also about over under between among during before
    after one some any all each other another more most many much very who's it's s
"""
FUNCTION_WORDS = frozenset(_FUNCTION_WORDS.split())


def stem(word: str) -> str:
    """A light stem: 'fruits' -> 'fruit', 'species' stays, 'glass' stays."""
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "ies")):
        return word[:-1]
    return word


def content_words(text: str) -> list[str]:
    """Stemmed content words of `text` in order, each once."""
    words = (stem(w) for w in _WORD.findall(text.lower().replace("'s", "")) if w not in FUNCTION_WORDS)
    return list(dict.fromkeys(words))


def gold_grade(answer: str, gold: str) -> float:
    """Share of the gold answer's content words found in `answer`; nan when the gold answer has none."""
    wanted = content_words(gold)
    if not wanted:
        return float("nan")
    found = set(content_words(answer))
    wanted = content_words(_ASIDE.sub(" ", gold)) or wanted  # "(country)", "(born 1950)": asides, not the answer
    return sum(w in found for w in wanted) / len(wanted)
