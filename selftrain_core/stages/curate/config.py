"""Curate settings: how scores become training data (thresholds, pair strategy, the training budget)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from selftrain_core.config.base import StrictModel

PairStrategy = Literal["reference-vs-worst", "no-document"]


class CurateConfig(StrictModel):
    """Thresholds on scores in [0, 1]. S_L and S_K measure different samples (with and without the document), so
    neither threshold bounds the other."""

    answerable_threshold: float = Field(
        0.55,
        ge=0.0,
        le=1.0,
        description="S_L below this: samples with the document disagree with the reference; question dropped.",
    )
    known_threshold: float = Field(
        0.75,
        ge=0.0,
        le=1.0,
        description="S_K at or above this: the model already knows the answer; no pair is made (unless "
        "knowledge_filter is off).",
    )
    pair_strategy: PairStrategy = Field(
        "reference-vs-worst",
        description="reference-vs-worst: chosen = the grounded reference, rejected = the most contradicting "
        "no-document samples. no-document: chosen = the most consistent no-document sample, rejected = the least.",
    )
    pairs_per_question: int = Field(1, ge=1, description="DPO pairs made per unknown question (distinct rejected).")
    max_length_ratio: float | None = Field(
        None,
        ge=1.0,
        description="Length-gap normalisation: skip a candidate whose word count differs from the chosen answer's "
        "by more than this factor (DPO otherwise learns length). None: no limit.",
    )
    min_score_gap: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="no-document strategy: chosen's score must beat rejected's by more than this.",
    )
    knowledge_filter: bool = Field(
        True,
        description="Knowledge-detection filtering. False (the 'w/o filtering' ablation): questions labelled known "
        "(S_K >= known_threshold) get an SFT row and pairs like unknown ones; the label column still records it. "
        "The answerability and empty-reference rules still apply.",
    )
    max_questions: int | None = Field(
        None,
        ge=1,
        description="A training budget: at most this many questions get training rows (pairs and SFT), picked in "
        "a seeded order so an arm without filtering can be given the same budget as the method. The rest are "
        "rejected as over_budget. None: no budget.",
    )
