"""Predictive entropy from the sampled tokens: how sure the model was of what it said (the baseline).

A sample's confidence is exp(mean token logprob), the geometric-mean probability of its tokens, i.e.
exp(-length-normalised predictive entropy) of that sample. The question's score is the mean confidence over
samples; `details` keeps the Monte-Carlo length-normalised predictive entropy PE = -mean_i mean_t logp.
The reference is not used (but an empty reference still scores 0, like every scorer). An empty sample has
confidence 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from selftrain_core.errors import StageInputError
from selftrain_core.scorers.base import ScoreInput, ScoreResult, has_text, result


class PredictiveEntropy:
    scorer_id = "predictive-entropy"
    version = 1
    needs_document = False

    @staticmethod
    def roles(settings) -> tuple[str, ...]:
        return ()

    @classmethod
    def open(cls, settings, models) -> PredictiveEntropy:
        return cls()

    def score(self, items: Sequence[ScoreInput]) -> list[ScoreResult]:
        out = []
        for item in items:
            lengths = [len(lp) for lp in item.logprobs]
            if any(has_text(s) for s in item.samples) and (len(lengths) != len(item.samples) or not any(lengths)):
                raise StageInputError(
                    "predictive-entropy needs the samples' token logprobs; the answers artifact has none "
                    "(use a backend that returns logprobs, or another scorer)"
                )
            logprobs = item.logprobs if len(item.logprobs) == len(item.samples) else [[] for _ in item.samples]
            pairs = zip(item.samples, logprobs, strict=True)
            means = [float(np.mean(lp)) if lp and has_text(s) else None for s, lp in pairs]
            confidence = [math.exp(m) if m is not None else 0.0 for m in means]
            known = [m for m in means if m is not None]
            pe = round(-float(np.mean(known)), 6) if known else None
            out.append(result(confidence, item, {"predictive_entropy": pe}))
        return out
