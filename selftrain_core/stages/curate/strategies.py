"""The curate strategies by name (curate.strategy), each a function (settings, score row, answer row) -> Outcome.

`sft-references` is the baseline that trains on every answerable question's grounded reference (no knowledge
filter, no pairs); with `knowledge_filter: false`, knowledge-detection is the paper's "w/o filtering" ablation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from selftrain_core.stages.curate.confident_preference import confident_pair
from selftrain_core.stages.curate.config import CurateConfig
from selftrain_core.stages.curate.inner_knowledge import verified_pair
from selftrain_core.stages.curate.pairs import Outcome, curate_question, distinct_samples, gate, no_document, reference
from selftrain_core.stages.curate.rejection_sampling import accepted_samples


def sft_references(c: CurateConfig, score: dict[str, Any], answer: dict[str, Any]) -> Outcome:
    outcome = gate(c, score, answer)
    return outcome if outcome.reason is not None else Outcome(outcome.label, sft=[reference(answer)])


def self_rewarding(c: CurateConfig, score: dict[str, Any], answer: dict[str, Any]) -> Outcome:
    """Self-Rewarding Language Models (Yuan et al. 2024): the per-sample scores are the policy's own rubric grades
    (score.scorer=self-reward); the best-graded sample is chosen over the worst, by more than min_score_gap."""
    outcome = gate(c, score, answer)
    if outcome.reason is not None:
        return outcome
    pairs, reason = no_document(c, distinct_samples(answer, score))
    return Outcome(outcome.label, pairs, reason=reason)


Strategy = Callable[[CurateConfig, dict[str, Any], dict[str, Any]], Outcome]
STRATEGIES: dict[str, Strategy] = {
    "knowledge-detection": curate_question,
    "rejection-sampling": accepted_samples,
    "confident-preference": confident_pair,
    "self-rewarding": self_rewarding,
    "inner-knowledge": verified_pair,
    "sft-references": sft_references,
}
# Strategies whose rows are SFT only: a question they train on has no pair, and that is not a drop.
SFT_ONLY = frozenset({"rejection-sampling", "sft-references"})


def curate_with(c: CurateConfig, score: dict[str, Any], answer: dict[str, Any]) -> Outcome:
    """One train question through the configured strategy."""
    return STRATEGIES[c.strategy](c, score, answer)
