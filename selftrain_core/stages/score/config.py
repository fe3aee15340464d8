"""Knowledge-detection settings: which scorer judges the samples (score) and how scores become data (curate)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from selftrain_core.config.base import RUNTIME, StrictModel
from selftrain_core.errors import SelftrainError

ScorerName = Literal[
    "embedding-agreement", "selfcheck-nli", "selfcheck-prompt", "bsdetector", "semantic-entropy", "predictive-entropy"
]


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
        "bsdetector, semantic-entropy, predictive-entropy. Every score is agreement-oriented in [0, 1].",
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

    @field_validator("reflection_prompt", "support_prompt")
    @classmethod
    def _known_prompt(cls, prompt_id: str) -> str:
        from selftrain_core.prompts import load_prompt

        try:
            load_prompt(prompt_id)
        except SelftrainError as exc:
            raise ValueError(str(exc)) from None
        return prompt_id

    @model_validator(mode="after")
    def _nli_reachable(self) -> ScoreConfig:
        """A scorer that needs the NLI model fails here, before any stage runs, when this machine cannot load it."""
        from selftrain_core.scorers import scorer_class

        if "nli" in scorer_class(self.scorer).roles(self):
            check_nli_model(self.nli.name, self.nli.revision)
        return self


def check_nli_model(name: str, revision: str | None) -> None:
    """Raise ValueError (naming score.nli.name) unless `name` is loadable here and has readable NLI labels."""
    from selftrain_core.models.resolve import hub_offline, local_config_folder
    from selftrain_core.scorers.nli import labels_of_folder

    try:
        folder = local_config_folder(name, revision, kind="nli")
        if folder is None:
            if hub_offline():
                raise ValueError(
                    f"score.nli.name: NLI model {name!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE "
                    f"is set, so it cannot be loaded. Download it first (huggingface-cli download {name}) or set "
                    "score.nli.name to a local folder, or pick a scorer that needs no NLI model "
                    "(embedding-agreement, semantic-entropy / bsdetector with consistency=embedding)."
                )
            return  # online: downloaded when the score stage is planned
        labels_of_folder(folder, f"score.nli.name {name!r}")
    except SelftrainError as exc:
        raise ValueError(f"score.nli.name: {exc}") from None
