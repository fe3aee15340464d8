"""The policy model and the embedder: the models every stage shares."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from selftrain_core.config.base import NOT_SIGNED, RUNTIME, StrictModel, absolute_path


class ModelConfig(StrictModel):
    name: str = Field(
        "smollm2-135m-instruct",
        description="Policy model: an offline alias (smollm2-135m-instruct), a local folder, or a hub id org/name.",
    )
    revision: str | None = Field(None, description="Hub revision (commit, tag or branch) for hub ids.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto",
        description="Weights dtype for inference and training. auto: bfloat16 for sampling with the hf backend on a "
        "CPU with native bf16 (avx512_bf16 or AMX), else float32; training in float32 (models/precision.py). The "
        "resolved dtype enters the stages' keys.",
    )
    device: str = Field("auto", description="torch device: auto, cpu, cuda, cuda:1...", json_schema_extra=RUNTIME)
    adapter: str | None = Field(
        None,
        description="A LoRA adapter applied on the policy when sampling answers and evaluated as the previous "
        "round (the flow sets it from round 2 on; questions are always written by the base model).",
        json_schema_extra=NOT_SIGNED,
    )

    @field_validator("adapter")
    @classmethod
    def _absolute(cls, path: str | None) -> str | None:
        return None if path is None else absolute_path(path)


class EmbedderConfig(StrictModel):
    name: str = Field(
        "all-minilm-l6-v2",
        description="Sentence-transformers embedder: an offline alias (all-minilm-l6-v2), a local folder or hub id.",
    )
    batch_size: int = Field(64, gt=0, description="Sentences per encode batch.", json_schema_extra=RUNTIME)
