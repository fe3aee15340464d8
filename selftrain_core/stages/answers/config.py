"""Answers settings: the backend that samples the policy, K, and the sampling parameters."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from selftrain_core.backends.config import (
    OpenAIServerConfig,
    VLLMEngineConfig,
    check_backend,
    engine_field,
    server_field,
)
from selftrain_core.config.base import KEYED_WHEN_SET, RUNTIME, StrictModel


class AnswersConfig(StrictModel):
    backend: Literal["hf", "vllm", "openai"] = Field(
        "hf",
        description="Generation backend that samples the policy's answers: hf (model.name, local), vllm (model.name "
        "in vLLM's offline engine, in the environment `make vllm-env` builds) or openai (a server serving the "
        "policy as answers.server.model).",
    )
    server: OpenAIServerConfig | None = server_field("answers")
    vllm: VLLMEngineConfig = engine_field("answers")
    with_document_prompt: str = Field("answer_with_document", description="Prompt template id, document given.")
    without_document_prompt: str = Field("answer_without_document", description="Prompt template id, no document.")
    num_samples: int = Field(5, gt=0, description="K: samples with and K samples without the document.")
    temperature: float = Field(1.0, gt=0.0, description="Sampling temperature of the K samples.")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="Nucleus sampling mass of the K samples.")
    max_new_tokens: int = Field(64, gt=0, description="Longest answer, in tokens.")
    explicitation: bool = Field(
        False,
        description="Inner-knowledge explicitation (SKE-Learn, Huang et al. 2025): also K no-document samples in "
        "which the model first writes the knowledge its answer rests on ('Knowledge: ...') and then answers "
        "('Answer: ...'). The score stage verifies each against the document; curate.strategy=inner-knowledge "
        "trains on the verified ones.",
        json_schema_extra=KEYED_WHEN_SET,
    )
    explicitation_prompt: str = Field(
        "explicit_knowledge",
        description="Prompt template id of the explicitation samples (knowledge first, then the answer).",
        json_schema_extra=KEYED_WHEN_SET,
    )
    explicitation_max_new_tokens: int = Field(
        128,
        gt=0,
        description="Longest explicitation sample (knowledge and answer), in tokens.",
        json_schema_extra=KEYED_WHEN_SET,
    )
    batch_size: int = Field(
        32,
        gt=0,
        description="Prompts decoded together (hf); requests with the same prompt share its prefill and its keys "
        "and values, and each brings its rows (the answers stage: 1 + K with the document, K without) "
        "(bench/batch_size.py).",
        json_schema_extra=RUNTIME,
    )
    shard_size: int = Field(
        16,
        gt=0,
        description="Questions per shard; a restarted stage resumes at shard granularity.",
        json_schema_extra=RUNTIME,
    )

    @model_validator(mode="after")
    def _server_matches_backend(self) -> AnswersConfig:
        check_backend("answers", self.backend, self.server)
        return self
