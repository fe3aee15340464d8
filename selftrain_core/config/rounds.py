"""Self-training rounds: round i+1 samples from round i's model and continues its adapter, until a gate says the
newly trained model is not better than the one before it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from selftrain_core.config.base import StrictModel


class RoundsConfig(StrictModel):
    count: int = Field(1, ge=1, le=20, description="Self-training rounds in one run.")
    gate_metric: Literal["f1", "containment", "correct", "hallucinated", "wrong", "abstained"] = Field(
        "f1",
        description="Metric the gate compares between a round's model and the previous round's (the base for "
        "round 1) on rounds.gate_set; for hallucinated, wrong and abstained, lower is better.",
    )
    gate_set: Literal["held_out", "train_new", "known", "gold_train", "gold_held_out"] = Field(
        "held_out", description="Evaluation set whose paired difference the gate reads (it must be in evaluate.sets)."
    )
    gate_margin: float = Field(
        0.0,
        ge=-1.0,
        le=1.0,
        description="The next round runs only when the paired improvement on gate_metric exceeds this (every gate "
        "metric is a share in [0, 1], so an improvement lies in [-1, 1]).",
    )
    gate_requires_significance: bool = Field(
        False, description="Also require the improvement's bootstrap interval to exclude 0."
    )
