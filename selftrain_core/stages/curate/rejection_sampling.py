"""Rejection-sampling SFT: the model is trained on its own answers that a reward accepts.

After ReST-EM (Singh et al. 2023, "Beyond Human Data: Scaling Self-Training for Problem-Solving with Language
Models") and STaR (Zelikman et al. 2022): sample, keep what the reward accepts, fine-tune on it, iterate (here
through `rounds`). The reward is the scorer's per-sample agreement of a no-document sample with the
document-grounded reference: accepted at `curate.accept_threshold` or above. Up to
`curate.samples_per_question` accepted samples (distinct, most agreeing first) become SFT rows; no DPO pairs.
A question with no accepted sample is dropped with reason `no_sample_accepted`. Every sample of a question past
the shared gate that is not trained on is kept with its reason (the curate artifact's `rejected_samples` table):
`empty_sample`, `duplicate_sample` (the same text, normalised, as an earlier sample), `below_accept_threshold`,
`over_samples_per_question` (accepted, but the question already has its rows).
"""

from __future__ import annotations

from typing import Any

from selftrain_core.stages.curate.config import CurateConfig
from selftrain_core.stages.curate.pairs import Candidate, Outcome, distinct_samples, gate, normalise


def accepted_samples(c: CurateConfig, score: dict[str, Any], answer: dict[str, Any]) -> Outcome:
    outcome = gate(c, score, answer)
    if outcome.reason is not None:
        return outcome
    samples = distinct_samples(answer, score)
    kept = {s.index for s in samples}
    dropped = [
        (Candidate(text, value, i), "duplicate_sample" if normalise(text) else "empty_sample")
        for i, (text, value) in enumerate(zip(answer["no_doc"], score["no_doc_scores"], strict=True))
        if i not in kept
    ]
    accepted = sorted((s for s in samples if s.score >= c.accept_threshold), key=lambda s: (-s.score, s.index))
    dropped += [(s, "below_accept_threshold") for s in samples if s.score < c.accept_threshold]
    dropped += [(s, "over_samples_per_question") for s in accepted[c.samples_per_question :]]
    dropped.sort(key=lambda item: item[0].index)
    if not accepted:
        reason = "no_sample_accepted" if samples else "empty_samples"
        return Outcome(outcome.label, reason=reason, dropped=dropped)
    return Outcome(outcome.label, sft=accepted[: c.samples_per_question], dropped=dropped)
