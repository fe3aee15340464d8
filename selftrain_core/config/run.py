"""The whole run's configuration: it composes the stage configs (each in its stage folder) and the shared ones.

Every field carries its help text (the Prefect UI renders it in the run form). Fields marked `runtime=True`
(batch sizes, devices, shard sizes) do not change results, so they stay out of artifact keys: changing them
recomputes nothing.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from selftrain_core.config.base import NOT_SIGNED, RUNTIME, StrictModel
from selftrain_core.config.executor import ExecutorConfig
from selftrain_core.config.models import EmbedderConfig, ModelConfig
from selftrain_core.config.publish import PublishConfig
from selftrain_core.config.retries import RetriesConfig
from selftrain_core.config.rounds import RoundsConfig
from selftrain_core.config.storage import check_artifact_root
from selftrain_core.stages import STAGES  # noqa: F401  (re-exported: `from selftrain_core.config import STAGES`)
from selftrain_core.stages.answers.config import AnswersConfig
from selftrain_core.stages.chunk.config import ChunkConfig
from selftrain_core.stages.curate.config import CurateConfig
from selftrain_core.stages.evaluate.config import EvaluateConfig
from selftrain_core.stages.ingest.config import IngestConfig
from selftrain_core.stages.questions.config import QuestionsConfig
from selftrain_core.stages.score.config import ScoreConfig
from selftrain_core.stages.train.config import TrainConfig


class RunConfig(StrictModel):
    """One self-training run: every stage's settings. Load with `load_run_config`."""

    name: str = Field(
        "offline-cpu", description="A name for this configuration (shown in reports).", json_schema_extra=NOT_SIGNED
    )
    artifact_root: str = Field(
        "artifacts", description="Artifact root: a local folder or any fsspec URL.", json_schema_extra=RUNTIME
    )
    seed: int = Field(0, description="Seed for splits, sampling, training and bootstrap.")
    reuse: bool = Field(
        True,
        description="Incremental runs: copy the rows earlier artifacts computed for the same chunks, questions and "
        "answers with the same settings, and compute only the new ones (a corpus that grew pays for what is new).",
        json_schema_extra=RUNTIME,
    )
    iteration: int = Field(
        1,
        ge=1,
        description="Self-training round (recorded in manifests; set by the flow).",
        json_schema_extra=NOT_SIGNED,
    )
    rounds: RoundsConfig = Field(
        default_factory=RoundsConfig, description="How many rounds, and the gate between them."
    )
    model: ModelConfig = Field(default_factory=ModelConfig)
    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    chunk: ChunkConfig = Field(default_factory=ChunkConfig)
    questions: QuestionsConfig = Field(default_factory=QuestionsConfig)
    answers: AnswersConfig = Field(default_factory=AnswersConfig)
    score: ScoreConfig = Field(default_factory=ScoreConfig)
    curate: CurateConfig = Field(default_factory=CurateConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    retries: RetriesConfig = Field(default_factory=RetriesConfig, description="Stage retries after transient failures.")
    executor: ExecutorConfig = Field(
        default_factory=ExecutorConfig,
        description="Where the sampling stages run their shards: here, or on a Ray cluster.",
        json_schema_extra=RUNTIME,
    )
    publish: PublishConfig = Field(
        default_factory=PublishConfig,
        description="Push the checkpoint and its curated data to the Hugging Face Hub (opt-in: set a repo id).",
        json_schema_extra=RUNTIME,
    )

    @model_validator(mode="after")
    def _gate_reads_an_evaluated_set(self) -> RunConfig:
        if self.rounds.count > 1 and self.rounds.gate_set not in self.evaluate.sets:
            raise ValueError(f"rounds.gate_set {self.rounds.gate_set!r} must be one of evaluate.sets")
        return self

    @model_validator(mode="after")
    def _strategy_has_its_inputs(self) -> RunConfig:
        if self.curate.strategy == "self-rewarding" and self.score.scorer != "self-reward":
            raise ValueError(
                "curate.strategy=self-rewarding pairs samples by the policy's own rubric grades: set "
                f"score.scorer=self-reward (it is {self.score.scorer!r})"
            )
        if self.curate.strategy == "inner-knowledge" and not self.answers.explicitation:
            raise ValueError(
                "curate.strategy=inner-knowledge trains on the model's explicitation samples: set "
                "answers.explicitation=true so the answers stage samples them"
            )
        return self

    @model_validator(mode="after")
    def _rounds_continue_an_adapter(self) -> RunConfig:
        if self.rounds.count > 1 and self.train.finetune == "full":
            raise ValueError("rounds.count > 1 continues a LoRA adapter from round to round; use train.finetune=lora")
        return self

    @field_validator("artifact_root")
    @classmethod
    def _usable_root(cls, root: str) -> str:
        return check_artifact_root(root)

    @field_validator("name")
    @classmethod
    def _simple_name(cls, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
            raise ValueError("use letters, digits, '.', '_' or '-'")
        return name
