"""Sentence splitting for sentence-level scorers (SelfCheckGPT): a rule splitter that needs no model download.

Splits after . ! ? (and the CJK 。！？) followed by space, or after CJK end marks directly, but not after
common abbreviations or single initials ("Dr.", "J. R. R."). A text with no terminal punctuation is one
sentence; a piece without any letter or digit is not a sentence.
"""

from __future__ import annotations

import re

from selftrain_core.scorers.base import has_text

_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+|(?<=[。！？])\s*")
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "no", "approx", "ca"}


def _ends_with_abbreviation(piece: str) -> bool:
    words = piece.rstrip().split()
    if not words:
        return False
    last = words[-1].rstrip(".").lower()
    return last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())


def split_sentences(text: str) -> list[str]:
    sentences, start = [], 0
    for match in _BOUNDARY.finditer(text):
        piece = text[start : match.start()]
        if piece.endswith(".") and _ends_with_abbreviation(piece):
            continue
        sentences.append(piece)
        start = match.end()
    sentences.append(text[start:])
    return [s.strip() for s in sentences if has_text(s)]
