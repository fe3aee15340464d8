"""Confidence-based preference pairs: the model's own confident, correct answer over its own contradicting one.

After CORE-PO-like self-training ("Self-Training Large Language Models with Confident Reasoning"): preference data
from the model's own samples, preferring the answer it is confident in and that is right. Confidence here is
the scorer's per-sample agreement (how consistent a sample is with the grounded reference and so with the other
samples), correctness is that agreement reaching `curate.accept_threshold`. Chosen = the most agreeing sample
above it; rejected = the least agreeing sample at or below `curate.contradict_threshold`; both the model's own
words, so DPO does not also learn the reference's style. Reasons: `no_confident_sample`,
`no_contradicting_sample`, `length_gap` (the pair fails `max_length_ratio`).
"""

from __future__ import annotations

from typing import Any

from selftrain_core.stages.curate.config import CurateConfig
from selftrain_core.stages.curate.pairs import Outcome, distinct_samples, gate, length_ok


def confident_pair(c: CurateConfig, score: dict[str, Any], answer: dict[str, Any]) -> Outcome:
    outcome = gate(c, score, answer)
    if outcome.reason is not None:
        return outcome
    samples = distinct_samples(answer, score)
    confident = sorted((s for s in samples if s.score >= c.accept_threshold), key=lambda s: (-s.score, s.index))
    wrong = sorted((s for s in samples if s.score <= c.contradict_threshold), key=lambda s: (s.score, s.index))
    if not confident:
        return Outcome(outcome.label, reason="no_confident_sample")
    if not wrong:
        return Outcome(outcome.label, reason="no_contradicting_sample")
    pairs = [(confident[0], w) for w in wrong if length_ok(confident[0].text, w.text, c.max_length_ratio)]
    if not pairs:
        return Outcome(outcome.label, reason="length_gap")
    return Outcome(outcome.label, pairs[: c.pairs_per_question])
