"""The scorer interface: one question's reference and samples in, an agreement score and per-sample scores out.

Every scorer is agreement-oriented: scores lie in [0, 1] and higher means the samples back the reference (the
model knows). `score` is S_L or S_K depending on which samples it gets; `per_sample[i]` is how much sample i agrees
with the reference (or, for scorers that ignore the reference, sample i's own confidence), so curation can pick the
most contradicting sample whatever the scorer.

Bad input has defined scores, shared by every scorer: an empty (or punctuation-only) reference scores 0 with every
sample at 0; an empty sample scores 0; no samples score 0. Each case is counted in `flags` and the stage's manifest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class ScoreInput:
    question: str
    reference: str
    samples: list[str]
    logprobs: list[list[float]] = field(default_factory=list)  # per sample token logprobs ([] when unknown)
    document: str | None = None  # the passage, for scorers that reflect with it (S_L)


@dataclass
class ScoreResult:
    score: float
    per_sample: list[float]
    details: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)


class Scorer(Protocol):
    scorer_id: str
    version: int
    needs_document: bool  # the stage passes the chunk text as ScoreInput.document for S_L

    def score(self, items: Sequence[ScoreInput]) -> list[ScoreResult]:
        """One result per item, in order."""
        ...


def has_text(text: str) -> bool:
    """True when `text` holds a letter or digit in any script (not only whitespace or punctuation)."""
    return any(ch.isalnum() for ch in text)


def input_flags(item: ScoreInput) -> list[str]:
    flags = []
    if not has_text(item.reference):
        flags.append("empty_reference")
    if not item.samples:
        flags.append("no_samples")
    elif len(item.samples) == 1:
        flags.append("single_sample")
    if any(not has_text(s) for s in item.samples):
        flags.append("empty_sample")
    return flags


def mean(values: Sequence[float]) -> float:
    """Mean agreement; no values means no evidence of knowledge (0)."""
    return float(np.mean(values)) if len(values) else 0.0


def result(per_sample: Sequence[float], item: ScoreInput, details: dict[str, Any] | None = None) -> ScoreResult:
    """A result whose score is the mean of the per-sample scores, with bad input forced to its defined value."""
    flags = input_flags(item)
    pairs = zip(item.samples, per_sample, strict=True)
    values = [float(np.clip(v, 0.0, 1.0)) if has_text(s) else 0.0 for s, v in pairs]
    if "empty_reference" in flags:
        values = [0.0] * len(item.samples)
    return ScoreResult(round(mean(values), 6), [round(v, 6) for v in values], details or {}, flags)
