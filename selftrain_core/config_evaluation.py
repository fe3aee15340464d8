"""Evaluation settings: held-out answers, correctness and hallucination checks, the pairwise judge, intervals."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from selftrain_core.config_backends import (
    OpenAIServerConfig,
    VLLMEngineConfig,
    check_backend,
    engine_field,
    server_field,
)
from selftrain_core.config_base import RUNTIME, StrictModel
from selftrain_core.errors import ModelNotFoundError
from selftrain_core.models.names import check_model_name


class JudgeConfig(StrictModel):
    enabled: bool = Field(True, description="Ask an LLM judge to compare base and trained answers (both orders).")
    backend: Literal["hf", "vllm", "openai"] = Field(
        "hf", description="Generation backend of the judge: hf (local transformers), vllm (vLLM's engine) or openai."
    )
    model: str | None = Field(
        None,
        description="Judge model for the hf and vllm backends: an offline alias, a local folder or a hub id. "
        "Empty: the policy model itself (offline default; a stronger judge is better). With backend openai, name "
        "the served model in evaluate.judge.server.model.",
    )
    server: OpenAIServerConfig | None = server_field("evaluate.judge")
    vllm: VLLMEngineConfig = engine_field("evaluate.judge")
    revision: str | None = Field(None, description="Hub revision of the judge model.")
    max_new_tokens: int = Field(8, gt=0, description="Longest verdict, in tokens (it answers A, B or tie).")

    @field_validator("model")
    @classmethod
    def _known_name(cls, name: str | None) -> str | None:
        if name is None:
            return None
        try:
            return check_model_name(name, "model")
        except ModelNotFoundError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _server_matches_backend(self) -> JudgeConfig:
        check_backend("evaluate.judge", self.backend, self.server, self.model)
        return self


class EvaluateConfig(StrictModel):
    backend: Literal["hf", "vllm"] = Field(
        "hf",
        description="Backend that writes the base, trained and previous models' greedy answers: hf (transformers) "
        "or vllm (vLLM's engine; a trained adapter as a LoRA request). A server cannot apply the trained "
        "adapter, so openai is not offered here.",
    )
    vllm: VLLMEngineConfig = engine_field("evaluate")
    max_new_tokens: int = Field(64, gt=0, description="Longest answer, in tokens.")
    with_document: bool = Field(
        False, description="Also evaluate the base model answering with the document (retrieval-augmented bound)."
    )
    correct_f1: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="An answer is correct when its token F1 against the grounded reference reaches this "
        "(used for retention, the scorer's AUROC and the calibration curve).",
    )
    hallucination_check: Literal["embedding", "nli"] = Field(
        "embedding",
        description="How an answer's support by its document is measured: embedding = best cosine with a "
        "sentence of the document (offline default); nli = P(the document entails the answer) from score.nli.",
    )
    hallucination_threshold: float = Field(
        0.6,
        description="An answer whose support by its document is below this counts as a hallucination.",
    )
    judge: JudgeConfig = Field(default_factory=JudgeConfig, description="Pairwise LLM judge, base vs trained.")
    bootstrap_samples: int = Field(2000, gt=10, description="Bootstrap resamples for confidence intervals.")
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="Confidence level of the intervals.")
    batch_size: int = Field(8, gt=0, description="Requests per generate call.", json_schema_extra=RUNTIME)
