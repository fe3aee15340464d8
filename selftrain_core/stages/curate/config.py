"""Curate settings: how scores become training data (the strategy, thresholds, pair strategy, the training budget)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from selftrain_core.config.base import KEYED_WHEN_SET, StrictModel

PairStrategy = Literal["reference-vs-worst", "no-document"]
CurateStrategy = Literal[
    "knowledge-detection",
    "rejection-sampling",
    "confident-preference",
    "self-rewarding",
    "inner-knowledge",
    "sft-references",
]


class CurateConfig(StrictModel):
    """Thresholds on scores in [0, 1]. S_L and S_K measure different samples (with and without the document), so
    neither threshold bounds the other."""

    strategy: CurateStrategy = Field(
        "knowledge-detection",
        description="How training rows are chosen. knowledge-detection (Yeo et al. 2024, the default): questions the "
        "model does not know (S_K below known_threshold) get the grounded reference as SFT and DPO pairs by "
        "pair_strategy. rejection-sampling (ReST-EM, Singh et al. 2023; STaR): SFT on the model's own no-document "
        "samples whose agreement with the reference reaches accept_threshold. confident-preference (CORE-PO-like): "
        "DPO pair = the model's most confident sample that agrees with the reference vs one that contradicts it "
        "(agreement at most contradict_threshold). self-rewarding (Yuan et al. 2024; needs score.scorer="
        "self-reward): DPO pair = the model's best-graded own sample vs its worst-graded, by the policy's rubric "
        "grades. inner-knowledge (SKE-Learn, Huang et al. 2025; needs answers.explicitation): SFT on the model's own "
        "explicitation+answer samples whose knowledge the document supports (support_threshold) and whose answer "
        "agrees with the reference (accept_threshold), DPO = a verified one over an unverified one. "
        "sft-references (baseline): SFT on the reference of every answerable question. The answerability "
        "and empty-reference rules apply to all.",
        json_schema_extra=KEYED_WHEN_SET,
    )
    accept_threshold: float = Field(
        0.8,
        ge=0.0,
        le=1.0,
        description="rejection-sampling and confident-preference: a no-document sample whose per-sample agreement "
        "with the reference reaches this is accepted as correct.",
        json_schema_extra=KEYED_WHEN_SET,
    )
    support_threshold: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="inner-knowledge: an explicitation is verified when the document supports its least "
        "supported knowledge sentence at least this much (score.explicitation_support measures it).",
        json_schema_extra=KEYED_WHEN_SET,
    )
    contradict_threshold: float = Field(
        0.4,
        ge=0.0,
        le=1.0,
        description="confident-preference: a sample whose agreement is at most this contradicts the reference and "
        "can be the rejected answer.",
        json_schema_extra=KEYED_WHEN_SET,
    )
    samples_per_question: int = Field(
        1,
        ge=1,
        description="rejection-sampling and inner-knowledge: at most this many accepted (verified) samples "
        "(distinct, best first) per question become SFT rows.",
        json_schema_extra=KEYED_WHEN_SET,
    )
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
        description="knowledge-detection's filtering. False (the 'w/o filtering' ablation): questions labelled known "
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

    @model_validator(mode="after")
    def _contradiction_below_acceptance(self) -> CurateConfig:
        if self.contradict_threshold >= self.accept_threshold:
            raise ValueError(
                "curate.contradict_threshold must be below curate.accept_threshold (a sample cannot both agree with "
                "the reference and contradict it)"
            )
        return self
