"""Questions settings: the question writer, its backend and the filters a question must pass."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, model_validator

from selftrain_core.backends.config import (
    OpenAIServerConfig,
    VLLMEngineConfig,
    check_backend,
    engine_field,
    server_field,
)
from selftrain_core.config.base import FINGERPRINTED, RUNTIME, StrictModel

QuestionFilter = Literal[
    "empty", "not_a_question", "too_short", "too_long", "meta_question", "missing_subject", "near_duplicate"
]
QUESTION_FILTERS: tuple[QuestionFilter, ...] = get_args(QuestionFilter)
"""The question filters in their default order: the one list of their names."""


class QuestionsConfig(StrictModel):
    backend: Literal["hf", "vllm", "openai"] = Field(
        "hf",
        description="Generation backend that writes questions: hf (local transformers), vllm (vLLM's offline "
        "engine, in the environment `make vllm-env` builds) or openai (a server).",
    )
    model: str | None = Field(
        None,
        json_schema_extra=FINGERPRINTED,
        description="Question writer for the hf and vllm backends: an offline alias, a local folder or a hub "
        "id. Empty: the policy model. (With backend openai, name the served model in questions.server.model.)",
    )
    revision: str | None = Field(None, description="Hub revision of questions.model.", json_schema_extra=FINGERPRINTED)
    server: OpenAIServerConfig | None = server_field("questions")
    vllm: VLLMEngineConfig = engine_field("questions")
    prompt: str = Field("question_writer", description="Prompt template id (a file in selftrain_core/prompts).")
    questions_per_chunk: int = Field(1, gt=0, description="Questions asked per chunk.")
    temperature: float = Field(0.0, ge=0.0, description="0 means greedy.")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    max_new_tokens: int = Field(48, gt=0, description="Longest question, in tokens.")
    min_words: int = Field(4, ge=1, description="Reject questions with fewer words.")
    max_words: int = Field(40, ge=1, description="Reject questions with more words.")
    filters: list[QuestionFilter] = Field(
        default_factory=lambda: list(QUESTION_FILTERS),
        description="Filters a question must pass, in this order; a failing question is kept as rejected with the "
        "filter's name as reason. missing_subject: names no word of the document's title, so it needs the document.",
    )
    near_duplicate_jaccard: float = Field(
        0.8,
        gt=0.0,
        le=1.0,
        description="Reject a question whose word-set Jaccard with a kept one reaches this.",
    )
    batch_size: int = Field(
        32,
        gt=0,
        description="Prompts decoded together (hf; greedy, one row each: 32 a batch 1.15x faster than 8, same "
        "texts; bench/batch_size.py); requests with the same prompt share its prefill.",
        json_schema_extra=RUNTIME,
    )
    shard_size: int = Field(
        64, gt=0, description="Chunks per shard; a restarted run skips finished shards.", json_schema_extra=RUNTIME
    )

    @model_validator(mode="after")
    def _server_matches_backend(self) -> QuestionsConfig:
        check_backend("questions", self.backend, self.server, self.model)
        return self

    @model_validator(mode="after")
    def _word_range(self) -> QuestionsConfig:
        if self.min_words > self.max_words:
            raise ValueError(
                "questions.min_words must be at most questions.max_words (else every question is rejected)"
            )
        return self
