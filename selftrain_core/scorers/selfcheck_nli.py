"""SelfCheckGPT-NLI (Manakul et al. 2023): does each sample contradict each sentence of the reference?

The reference is split into sentences; every (sentence, sample) pair goes through the NLI classifier in one
batched pass over all questions. A sample's agreement is 1 - its mean contradiction probability over the
sentences; the question's score is the mean over samples (1 - SelfCheckGPT's passage-level score). The
per-sentence contradiction means are kept in `details`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from selftrain_core.scorers.base import ScoreInput, ScoreResult, has_text, result
from selftrain_core.scorers.text import split_sentences


class SelfCheckNLI:
    scorer_id = "selfcheck-nli"
    version = 1
    needs_document = False

    def __init__(self, nli):
        self.nli = nli

    @staticmethod
    def roles(settings) -> tuple[str, ...]:
        return ("nli",)

    @classmethod
    def open(cls, settings, models) -> SelfCheckNLI:
        return cls(models.nli)

    def score(self, items: Sequence[ScoreInput]) -> list[ScoreResult]:
        sentences = [split_sentences(item.reference) for item in items]
        pairs, where = [], []  # where[k] = (item, sentence, sample) of pairs[k]
        for i, item in enumerate(items):
            for j, sentence in enumerate(sentences[i]):
                for k, sample in enumerate(item.samples):
                    if has_text(sample):
                        pairs.append((sentence, sample))
                        where.append((i, j, k))
        contradiction = self.nli.contradiction(pairs)
        grids = [np.ones((len(s), len(item.samples))) for s, item in zip(sentences, items, strict=True)]
        for (i, j, k), p in zip(where, contradiction, strict=True):
            grids[i][j, k] = p
        out = []
        for item, grid in zip(items, grids, strict=True):
            per_sample = 1.0 - grid.mean(axis=0) if grid.size else np.zeros(len(item.samples))
            by_sentence = grid.mean(axis=1).tolist() if grid.shape[1] else []
            details = {"sentences": grid.shape[0], "sentence_contradiction": [round(v, 6) for v in by_sentence]}
            out.append(result(per_sample.tolist(), item, details))
        return out
