"""Knowledge-detection settings: which scorer judges the samples (score) and how scores become data (curate)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from selftrain_core.config.base import KEYED_WHEN_SET, RUNTIME, StrictModel
from selftrain_core.scorers import SCORERS

ScorerName = Literal[tuple(SCORERS)]  # the registry (scorers/__init__.py) is the one list of scorer names


class NLIConfig(StrictModel):
    name: str = Field(
        "potsawee/deberta-v3-large-mnli",
        description="NLI checkpoint (sequence classification; 2-class or 3-class MNLI labels read from its config): "
        "a local folder or a hub id (with HF_HUB_OFFLINE it must be in the local Hugging Face cache).",
    )
    revision: str | None = Field(None, description="Hub revision of the NLI checkpoint.")
    max_length: int = Field(512, gt=8, description="Truncate each (sentence, sample) pair to this many tokens.")
    batch_size: int = Field(32, gt=0, description="Pairs per NLI forward pass.", json_schema_extra=RUNTIME)


class ScoreConfig(StrictModel):
    scorer: ScorerName = Field(
        "embedding-agreement",
        description="Knowledge scorer: embedding-agreement (offline default), selfcheck-nli, selfcheck-prompt, "
        "bsdetector, semantic-entropy, predictive-entropy, self-reward (the policy grades its own samples with a "
        "rubric, Yuan et al. 2024). Every score is agreement-oriented in [0, 1].",
    )
    nli: NLIConfig = Field(default_factory=NLIConfig, description="NLI model for selfcheck-nli and consistency=nli.")
    consistency: Literal["embedding", "nli"] = Field(
        "embedding",
        description="How bsdetector measures observed consistency and semantic-entropy decides same meaning.",
    )
    same_meaning_threshold: float = Field(
        0.8, ge=0.0, le=1.0, description="semantic-entropy with embeddings: cosine at or above this = same meaning."
    )
    bsdetector_beta: float = Field(
        0.7, ge=0.0, le=1.0, description="bsdetector: confidence = beta * observed + (1 - beta) * self-reflection."
    )
    reflection_prompt: str = Field("self_reflection", description="bsdetector's self-reflection prompt template.")
    support_prompt: str = Field("selfcheck_support", description="selfcheck-prompt's Yes/No prompt template.")
    explicitation_support: Literal["embedding", "nli"] = Field(
        "embedding",
        description="With answers.explicitation: how each explicitation's knowledge is checked against the "
        "document, claim by claim. embedding: a sentence's best cosine with a document sentence; nli: "
        "P(entailment | document, sentence) by score.nli.",
        json_schema_extra=KEYED_WHEN_SET,
    )
    reward_prompt: str = Field(
        "self_reward",
        description="self-reward's rubric prompt template (the policy grades each sample 0-5 against the reference).",
        json_schema_extra=KEYED_WHEN_SET,
    )
    reward_judge: str | None = Field(
        None,
        description="self-reward: the model that grades the samples instead of the policy (a local folder, a hub id "
        "in the local Hugging Face cache, or a preset name); empty: the policy grades its own samples, as in Yuan "
        "et al. 2024. Its fingerprint enters the score key.",
        json_schema_extra=KEYED_WHEN_SET,
    )
    shard_size: int = Field(
        64,
        gt=0,
        description="Questions scored per call and per shard; a restarted run skips finished shards, and with "
        "executor.kind=ray each shard is one Ray worker's unit of work.",
        json_schema_extra=RUNTIME,
    )
