"""The near-duplicate filter's index: is a question's word set within Jaccard `threshold` of one kept before it?

Exact, and not quadratic: prefix filtering (Chaudhuri et al. 2006; Bayardo et al. 2007, "All-pairs"). With the
words of every set in one fixed order, two sets whose Jaccard reaches t share at least ceil(t * max(|A|, |B|))
words, so each one's first |X| - ceil(t |X|) + 1 words share at least one. Only those prefix words are indexed
and probed; the few candidates found are checked with the exact Jaccard. The order is rarest first, by the word
counts given (`frequencies`: of all the questions about to be filtered; a word not counted ranks rarest), so a
question is compared with the kept questions that share one of its rare words, not with all of them. The order
changes only how much is compared, never the answer.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping


class NearDuplicates:
    def __init__(self, threshold: float, kept: Iterable[set[str]] = (), frequencies: Mapping[str, int] | None = None):
        self.threshold = threshold
        self.frequencies = frequencies or {}
        self.sets: list[frozenset[str]] = []
        self.index: dict[str, list[int]] = defaultdict(list)
        self.comparisons = 0  # exact Jaccard computations so far (what the index saves)
        for words in kept:
            self.add(words)

    def _prefix(self, words: Iterable[str]) -> list[str]:
        ordered = sorted(words, key=lambda w: (self.frequencies.get(w, 0), w))
        overlap = max(1, math.ceil(self.threshold * len(ordered) - 1e-9))
        return ordered[: len(ordered) - overlap + 1]

    def add(self, words: set[str]) -> None:
        """Keep a question's word set."""
        position = len(self.sets)
        self.sets.append(frozenset(words))
        for word in self._prefix(words):
            self.index[word].append(position)

    def matches(self, words: set[str]) -> bool:
        """Whether a kept set's Jaccard with `words` reaches the threshold (an empty set matches nothing)."""
        if not words:
            return False
        if self.threshold <= 0:
            return bool(self.sets)
        seen: set[int] = set()
        for word in self._prefix(words):
            for position in self.index.get(word, ()):
                if position in seen:
                    continue
                seen.add(position)
                other = self.sets[position]
                self.comparisons += 1
                if len(words & other) / len(words | other) >= self.threshold:
                    return True
        return False


def word_counts(word_sets: Iterable[set[str]]) -> Counter:
    """How many of the sets hold each word: the rarest-first order of NearDuplicates."""
    return Counter(word for words in word_sets for word in words)
