"""The knowledge-detection strategy (Yeo et al., "Self-training Large Language Models through Knowledge
Detection", Findings of EMNLP 2024): one train question's scores -> its DPO pairs, its SFT row, or the reason it
gives neither. The gate every strategy shares (finite scores, a reference, answerable) is `gate`.

Decision (both thresholds from CurateConfig): the label is `known` when S_K >= known_threshold, else `unknown`.
A score that is NaN or infinite (S_L, S_K or a per-sample score) decides nothing: the question gets no pair and
no SFT row, reason `non_finite_score` (label `unscored` when S_K itself is not a number). An empty reference ->
`empty_reference`; S_L < answerable_threshold -> `unanswerable`; a known question -> `known` (only while
knowledge_filter is on: off, it is trained like an unknown one). The rest get an SFT row (the grounded
reference) and up to `pairs_per_question` pairs by the strategy:
- reference-vs-worst (default): chosen = the reference, rejected = the no-document samples that agree least
  with it (lowest per-sample scores), each distinct and different from the reference.
- no-document: chosen = the most consistent no-document sample, rejected = the least, then the next best
  against the next worst; the chosen must outscore the rejected by more than min_score_gap.
Length-gap normalisation: a candidate whose word count is more than max_length_ratio times off the chosen one
is skipped, so DPO does not learn "longer (or shorter) is better".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from selftrain_core.stages.curate.config import CurateConfig


@dataclass(frozen=True)
class Candidate:
    text: str
    score: float | None  # per-sample agreement; None for the reference
    index: int | None = None  # its place among the answer's no-document samples; None for the reference


@dataclass
class Outcome:
    label: str  # known | unknown | unscored (S_K not finite)
    pairs: list[tuple[Candidate, Candidate]] = field(default_factory=list)  # (chosen, rejected)
    sft: list[Candidate] = field(default_factory=list)  # the answers trained on by SFT (the reference, or samples)
    reason: str | None = None  # why no pair (for an SFT-only strategy: no SFT row) was made
    dropped: list[tuple[Candidate, str]] = field(default_factory=list)  # own samples not trained on, with why


def reference(answer: dict[str, Any]) -> Candidate:
    return Candidate(answer["reference"], None)


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def length_ok(a: str, b: str, max_ratio: float | None) -> bool:
    if max_ratio is None:
        return True
    n, m = len(a.split()), len(b.split())
    return max(n, m) <= max_ratio * max(min(n, m), 1)


def distinct_indices(texts: list[str]) -> list[int]:
    """Indices of the non-empty texts, one per normalised text (the first seen)."""
    seen, out = set(), []
    for index, text in enumerate(texts):
        key = normalise(text)
        if key and key not in seen:
            seen.add(key)
            out.append(index)
    return out


def distinct_samples(answer: dict[str, Any], score: dict[str, Any]) -> list[Candidate]:
    """Non-empty no-document samples, one per normalised text (the first seen), with their scores."""
    rows = list(zip(answer["no_doc"], score["no_doc_scores"], strict=True))
    return [Candidate(rows[i][0], rows[i][1], i) for i in distinct_indices([text for text, _ in rows])]


def reference_vs_worst(c: CurateConfig, reference: str, samples: list[Candidate]) -> tuple[list, str | None]:
    chosen = Candidate(reference, None)
    unlike = [s for s in samples if normalise(s.text) != normalise(reference)]
    if not unlike:
        return [], "chosen_equals_rejected"
    fitting = [s for s in sorted(unlike, key=lambda s: s.score) if length_ok(reference, s.text, c.max_length_ratio)]
    if not fitting:
        return [], "length_gap"
    return [(chosen, s) for s in fitting[: c.pairs_per_question]], None


def no_document(c: CurateConfig, samples: list[Candidate]) -> tuple[list, str | None]:
    if len(samples) < 2:
        return [], "too_few_samples"
    ranked = sorted(samples, key=lambda s: -s.score)
    pairs, reason = [], "no_score_gap"
    low = len(ranked) - 1
    for high in range(len(ranked)):
        if len(pairs) == c.pairs_per_question or high >= low:
            break
        best = ranked[high]
        while low > high and not length_ok(best.text, ranked[low].text, c.max_length_ratio):
            low -= 1
            reason = "length_gap"
        if low <= high or best.score - ranked[low].score <= c.min_score_gap:
            break
        pairs.append((best, ranked[low]))
        low -= 1
    return pairs, (None if pairs else reason)


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def finite_scores(score: dict[str, Any]) -> bool:
    """S_L, S_K and every per-sample score are numbers: a NaN compares false with any threshold, so it would
    otherwise pass as `unknown` and be trained on."""
    return all(finite(v) for v in (score["s_l"], score["s_k"], *score["no_doc_scores"]))


def gate(c: CurateConfig, score: dict[str, Any], answer: dict[str, Any]) -> Outcome:
    """The question's label, and the reason every strategy drops it (reason None: it may be trained on)."""
    if not finite(score["s_k"]):
        return Outcome("unscored", reason="non_finite_score")
    label = "known" if score["s_k"] >= c.known_threshold else "unknown"
    if not finite_scores(score):
        return Outcome(label, reason="non_finite_score")
    if not answer["reference"].strip():
        return Outcome(label, reason="empty_reference")
    if score["s_l"] < c.answerable_threshold:
        return Outcome(label, reason="unanswerable")
    return Outcome(label)


def curate_question(c: CurateConfig, score: dict[str, Any], answer: dict[str, Any]) -> Outcome:
    outcome = gate(c, score, answer)
    if outcome.reason is not None:
        return outcome
    label = outcome.label
    if label == "known" and c.knowledge_filter:
        return Outcome(label, reason="known")
    samples = distinct_samples(answer, score)
    if not samples:
        return Outcome(label, sft=[reference(answer)], reason="empty_samples")
    if c.pair_strategy == "no-document":
        pairs, reason = no_document(c, samples)
    else:
        pairs, reason = reference_vs_worst(c, answer["reference"], samples)
    return Outcome(label, pairs, sft=[reference(answer)], reason=reason)
