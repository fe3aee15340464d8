"""Inner-knowledge explicitation: train on the explicitations the document verifies, prefer them over the ones
it does not.

After SKE-Learn (Huang et al., "Empowering Self-Learning of LLMs: Inner Knowledge Explicitation as a Catalyst",
AAAI 2025): the model writes the knowledge its answer rests on before answering (answers.explicitation), the
explicit knowledge is verified (here against the document: score/support.py), and only verified
explicitation+answer samples become training data, so the model's hallucinations are not trained back into it.
A sample is verified when its knowledge's support reaches `curate.support_threshold` and its answer's agreement
with the grounded reference reaches `curate.accept_threshold`. SFT: up to `samples_per_question` verified samples
(most supported first). DPO: the most supported verified sample chosen over an unverified one (least supported
first), up to `pairs_per_question`. The rows' prompt is the explicitation prompt and their answers the whole
sample (knowledge, then answer): what is learnt is to state verified knowledge and answer from it. Reasons:
`no_explicitation` (no sample, or an answers artifact made without explicitation), `no_verified_explicitation`,
`no_unverified_explicitation` (SFT rows, no pair), `length_gap`.
"""

from __future__ import annotations

from typing import Any

from selftrain_core.stages.curate.config import CurateConfig
from selftrain_core.stages.curate.pairs import Candidate, Outcome, distinct_indices, finite, gate, length_ok


def explicit_samples(answer: dict[str, Any], score: dict[str, Any]) -> list[tuple[Candidate, float]]:
    """Non-empty explicit samples, one per normalised text, as (candidate scored by its support, answer agreement)."""
    columns = (answer.get("explicit") or [], score.get("explicit_support") or [], score.get("explicit_scores") or [])
    rows = list(zip(*columns, strict=True))
    return [(Candidate(rows[i][0], rows[i][1], i), rows[i][2]) for i in distinct_indices([r[0] for r in rows])]


def verified_pair(c: CurateConfig, score: dict[str, Any], answer: dict[str, Any]) -> Outcome:
    outcome = gate(c, score, answer)
    if outcome.reason is not None:
        return outcome
    samples = explicit_samples(answer, score)
    if not samples:
        return Outcome(outcome.label, reason="no_explicitation")
    if not all(finite(s.score) and finite(a) for s, a in samples):
        return Outcome(outcome.label, reason="non_finite_score")
    by_support = sorted(samples, key=lambda p: (-p[0].score, p[0].index))
    verified = [s for s, a in by_support if s.score >= c.support_threshold and a >= c.accept_threshold]
    unverified = sorted((s for s, _ in samples if s not in verified), key=lambda s: (s.score, s.index))
    if not verified:
        return Outcome(outcome.label, reason="no_verified_explicitation")
    sft = verified[: c.samples_per_question]
    if not unverified:
        return Outcome(outcome.label, sft=sft, reason="no_unverified_explicitation")
    best = verified[0]
    pairs = [(best, u) for u in unverified if length_ok(best.text, u.text, c.max_length_ratio)]
    if not pairs:
        return Outcome(outcome.label, sft=sft, reason="length_gap")
    return Outcome(outcome.label, pairs[: c.pairs_per_question], sft=sft)
