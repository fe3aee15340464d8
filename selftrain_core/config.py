"""Typed run configuration: one pydantic model per stage and one for the whole run.

Every field carries its help text (the Prefect UI renders it in the run form). Fields marked `runtime=True`
(batch sizes, devices, shard sizes) do not change results, so they stay out of artifact keys: changing them
recomputes nothing.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from selftrain_core.config_backends import (
    OpenAIServerConfig,
    VLLMEngineConfig,
    check_backend,
    engine_field,
    server_field,
)
from selftrain_core.config_base import RUNTIME, StrictModel, adapter_folder
from selftrain_core.config_detection import CurateConfig, ScoreConfig, check_nli_model
from selftrain_core.config_evaluation import EvaluateConfig
from selftrain_core.config_retries import RetriesConfig
from selftrain_core.config_rounds import RoundsConfig
from selftrain_core.config_training import TrainConfig
from selftrain_core.errors import ModelNotFoundError
from selftrain_core.models.names import check_model_name


def _checked(name: str, kind: str) -> str:
    try:
        return check_model_name(name, kind)
    except ModelNotFoundError as exc:  # pydantic reports ValueErrors with the field's path
        raise ValueError(str(exc)) from None


# --- models -------------------------------------------------------------------------------------------


class ModelConfig(StrictModel):
    name: str = Field(
        "smollm2-135m-instruct",
        description="Policy model: an offline alias (smollm2-135m-instruct), a local folder, or a hub id org/name.",
    )
    revision: str | None = Field(None, description="Hub revision (commit, tag or branch) for hub ids.")
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "float32", description="Weights dtype for inference and training."
    )
    device: str = Field("auto", description="torch device: auto, cpu, cuda, cuda:1...", json_schema_extra=RUNTIME)
    adapter: str | None = Field(
        None,
        description="A LoRA adapter applied on the policy when sampling answers and evaluated as the previous "
        "round (the flow sets it from round 2 on; questions are always written by the base model).",
    )

    @field_validator("name")
    @classmethod
    def _known_name(cls, name: str) -> str:
        return _checked(name, "model")

    @field_validator("adapter")
    @classmethod
    def _adapter_exists(cls, path: str | None) -> str | None:
        return None if path is None else adapter_folder(path)


class EmbedderConfig(StrictModel):
    name: str = Field(
        "all-minilm-l6-v2",
        description="Sentence-transformers embedder: an offline alias (all-minilm-l6-v2), a local folder or hub id.",
    )
    batch_size: int = Field(64, gt=0, description="Sentences per encode batch.", json_schema_extra=RUNTIME)

    @field_validator("name")
    @classmethod
    def _known_name(cls, name: str) -> str:
        return _checked(name, "embedder")


# --- sources ------------------------------------------------------------------------------------------


class WikiVitalSource(StrictModel):
    kind: Literal["wiki-vital"] = "wiki-vital"
    categories: list[str] = Field(
        default_factory=lambda: [
            "People",
            "History",
            "Geography",
            "Arts",
            "Philosophy and religion",
            "Everyday life",
            "Society and social sciences",
            "Biology and health sciences",
            "Physical sciences",
            "Technology",
            "Mathematics",
        ],
        description="Wikipedia vital-article categories to draw documents from.",
    )
    documents_per_category: int = Field(5, gt=0, description="Documents drawn (reproducibly) per category.")
    min_chars: int = Field(200, ge=0, description="Skip summaries shorter than this (too little to ask about).")


class GoldColumns(StrictModel):
    """The columns of a tabular source that hold a gold item (shared by the local and hf-dataset sources)."""

    gold_answer_field: str | None = Field(
        None,
        description="Column holding a gold answer about the document (no model wrote it); evaluation grades "
        "answers to the gold question by it. Empty: no gold item.",
    )
    gold_question_field: str | None = Field(
        None,
        description="Column holding the question the gold answer answers. Empty: the identity question "
        "('What is <title>?').",
    )


class HFDatasetSource(GoldColumns):
    kind: Literal["hf-dataset"] = "hf-dataset"
    path: str = Field(..., description="Dataset id on the hub (e.g. wikimedia/wikipedia) or a local dataset folder.")
    name: str | None = Field(None, description="Dataset configuration name (e.g. 20231101.en).")
    revision: str | None = Field(None, description="Dataset revision; recorded on every document.")
    split: str = Field("train", description="Dataset split to read.")
    id_field: str = Field("id", description="Column holding a document id.")
    title_field: str = Field("title", description="Column holding the title.")
    text_field: str = Field("text", description="Column holding the text.")
    category_field: str | None = Field(None, description="Column holding a category, if any.")
    max_documents: int = Field(100, gt=0, description="Read at most this many documents (streamed).")


class LocalFilesSource(GoldColumns):
    kind: Literal["local"] = "local"
    path: str = Field(..., description="A .jsonl/.parquet/.txt/.md file, or a folder of them.")
    id_field: str = Field("id", description="JSONL/Parquet column holding a document id (else the row number).")
    title_field: str = Field("title", description="JSONL/Parquet column holding the title.")
    text_field: str = Field("text", description="JSONL/Parquet column holding the text.")
    category_field: str | None = Field("category", description="JSONL/Parquet column holding a category.")
    max_documents: int | None = Field(None, gt=0, description="Read at most this many documents.")


Source = Annotated[WikiVitalSource | HFDatasetSource | LocalFilesSource, Field(discriminator="kind")]


# --- stages -------------------------------------------------------------------------------------------


class IngestConfig(StrictModel):
    source: Source = Field(default_factory=WikiVitalSource, description="Where documents come from.")
    test_fraction: float = Field(
        0.25, ge=0.0, lt=1.0, description="Share of documents held out for evaluation (split by document)."
    )


class ChunkConfig(StrictModel):
    max_tokens: int = Field(256, gt=8, description="Chunk length in policy-tokenizer tokens.")
    overlap_tokens: int = Field(32, ge=0, description="Tokens shared by consecutive chunks of a document.")
    min_tokens: int = Field(24, ge=1, description="Drop chunks shorter than this (a trailing sliver).")

    @model_validator(mode="after")
    def _overlap_smaller(self) -> ChunkConfig:
        if self.overlap_tokens >= self.max_tokens:
            raise ValueError("chunk.overlap_tokens must be smaller than chunk.max_tokens")
        if self.min_tokens > self.max_tokens:
            raise ValueError("chunk.min_tokens must be at most chunk.max_tokens (else every chunk is dropped)")
        return self


QUESTION_FILTERS = (
    "empty",
    "not_a_question",
    "too_short",
    "too_long",
    "meta_question",
    "missing_subject",
    "near_duplicate",
)
QuestionFilter = Literal[
    "empty", "not_a_question", "too_short", "too_long", "meta_question", "missing_subject", "near_duplicate"
]


class QuestionsConfig(StrictModel):
    backend: Literal["hf", "vllm", "openai"] = Field(
        "hf",
        description="Generation backend that writes questions: hf (local transformers), vllm (vLLM's offline "
        "engine, in the environment `make vllm-env` builds) or openai (a server).",
    )
    model: str | None = Field(
        None,
        description="Question writer for the hf and vllm backends: an offline alias, a local folder or a hub "
        "id. Empty: the policy model. (With backend openai, name the served model in questions.server.model.)",
    )
    revision: str | None = Field(None, description="Hub revision of questions.model.")
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
    batch_size: int = Field(8, gt=0, description="Requests per generate call.", json_schema_extra=RUNTIME)
    shard_size: int = Field(
        64, gt=0, description="Chunks per shard; a restarted run skips finished shards.", json_schema_extra=RUNTIME
    )

    @field_validator("model")
    @classmethod
    def _known_name(cls, name: str | None) -> str | None:
        return None if name is None else _checked(name, "model")

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
    batch_size: int = Field(8, gt=0, description="Requests per generate call.", json_schema_extra=RUNTIME)
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


class RunConfig(StrictModel):
    """One self-training run: every stage's settings. Load with `load_run_config`."""

    name: str = Field("offline-cpu", description="A name for this configuration (shown in reports).")
    artifact_root: str = Field(
        "artifacts", description="Artifact root: a local folder or any fsspec URL.", json_schema_extra=RUNTIME
    )
    seed: int = Field(0, description="Seed for splits, sampling, training and bootstrap.")
    iteration: int = Field(1, ge=1, description="Self-training round (recorded in manifests; set by the flow).")
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

    @model_validator(mode="after")
    def _nli_for_evaluation(self) -> RunConfig:
        if self.evaluate.hallucination_check == "nli":
            check_nli_model(self.score.nli.name, self.score.nli.revision)
        return self

    @model_validator(mode="after")
    def _gate_reads_an_evaluated_set(self) -> RunConfig:
        if self.rounds.count > 1 and self.rounds.gate_set not in self.evaluate.sets:
            raise ValueError(f"rounds.gate_set {self.rounds.gate_set!r} must be one of evaluate.sets")
        return self

    @model_validator(mode="after")
    def _rounds_continue_an_adapter(self) -> RunConfig:
        if self.rounds.count > 1 and self.train.finetune == "full":
            raise ValueError("rounds.count > 1 continues a LoRA adapter from round to round; use train.finetune=lora")
        return self

    @field_validator("name")
    @classmethod
    def _simple_name(cls, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
            raise ValueError("use letters, digits, '.', '_' or '-'")
        return name


STAGES: tuple[str, ...] = ("ingest", "chunk", "questions", "answers", "score", "curate", "train", "evaluate")
