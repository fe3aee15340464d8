"""Evaluation settings: the evaluation sets, correctness, gold and hallucination checks, the judge, intervals."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from selftrain_core.backends.config import (
    OpenAIServerConfig,
    VLLMEngineConfig,
    check_backend,
    engine_field,
    server_field,
)
from selftrain_core.config.base import KEYED_WHEN_SET, RUNTIME, StrictModel, absolute_path

EvalSet = Literal["held_out", "train_new", "known", "gold_train", "gold_held_out", "suite"]
# the sets built from the run itself; `suite` is added by evaluate.suite, never listed in evaluate.sets
EVAL_SETS: tuple[str, ...] = tuple(s for s in EvalSet.__args__ if s != "suite")


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
    scoring: Literal["generate", "probabilities"] = Field(
        "generate",
        description="How a verdict is read: generate = read the verdict line of a generated reply (any backend); "
        "probabilities = score the options A, B and tie from the judge's next-token probabilities (backends that "
        "support it: hf).",
    )
    max_new_tokens: int = Field(
        8,
        gt=0,
        description="Longest verdict, in tokens, with scoring generate (the prompt asks for one line: "
        "'Verdict: A', 'B' or 'tie').",
    )
    sets: list[EvalSet] = Field(
        default_factory=lambda: ["held_out", "train_new"],
        description="Evaluation sets whose answers the judge compares (each arm against base, both orders).",
    )

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
    sets: list[EvalSet] = Field(
        default_factory=lambda: list(EVAL_SETS),
        description="Evaluation sets, each reported apart: held_out (questions from held-out documents), "
        "train_new (new questions about the training documents, another prompt and seed, deduplicated against "
        "the trained questions), known (training questions the model already knew: retention), gold_train and "
        "gold_held_out (each document's gold question, graded by its gold answer: no model involved).",
    )
    max_questions_per_set: int | None = Field(
        12, ge=1, description="Evaluate at most this many questions per set (a seeded choice). Empty: all."
    )
    documents: Literal["all", "select", "report"] = Field(
        "all",
        description="Which documents' questions to evaluate: all, or one of two halves split by a seeded hash of "
        "the document id. `selftrain experiment` picks training settings on `select` and reports on `report`, so "
        "no reported question chose a setting.",
    )
    question_prompt: str = Field(
        "question_writer_eval",
        description="Prompt template that writes the train_new questions (another prompt than questions.prompt).",
    )
    dedupe_cosine: float | None = Field(
        0.9,
        gt=0.0,
        le=1.0,
        description="A new question whose embedding cosine with a trained question reaches this is dropped (as is "
        "one whose word-set Jaccard reaches questions.near_duplicate_jaccard). Empty: by words only.",
    )
    gold_threshold: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="A gold question's answer is correct when it holds at least this share of the gold answer's "
        "content words.",
    )
    correct_f1: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="An answer is correct when its token F1 against the grounded reference reaches this "
        "(used for retention, the scorer's AUROC and the calibration curve).",
    )
    hallucination_check: Literal["lexical", "embedding", "nli"] = Field(
        "lexical",
        description="How an answer's support by its document is measured: lexical = share of its numbers and "
        "names found in the document (default: no model, so none shared with the training scorer); embedding = "
        "best cosine with a sentence of the document (the embedder the embedding-agreement scorer uses too); "
        "nli = P(the document entails the answer) from score.nli.",
    )
    hallucination_threshold: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="An answer whose support by its document is below this counts as a hallucination.",
    )
    suite: str | None = Field(
        None,
        description="A regression suite folder (`selftrain export-suite`): its questions become the set `suite`, "
        "answered without the document and graded by the suite's reference like held_out. Its version (a hash of "
        "its rows), not its path, enters the key. Like every set, halved by `documents` and capped by "
        "max_questions_per_set.",
        json_schema_extra=KEYED_WHEN_SET,
    )
    judge: JudgeConfig = Field(default_factory=JudgeConfig, description="Pairwise LLM judge, base vs trained.")
    bootstrap_samples: int = Field(2000, gt=10, description="Bootstrap resamples for confidence intervals.")
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="Confidence level of the intervals.")
    batch_size: int = Field(
        64,
        gt=0,
        description="Prompts decoded together (hf; greedy, one row each: larger batches than sampling's pay, 64 "
        "answered 1.32-1.43x faster than 32; bench/batch_size.py). A shard (shard_size) is the most one batch holds.",
        json_schema_extra=RUNTIME,
    )
    shard_size: int = Field(
        64,
        gt=0,
        description="Requests per shard of each model's answers (and the new questions): a crash keeps the finished "
        "shards and the rerun generates the rest; with executor.kind=ray, the unit a Ray worker takes.",
        json_schema_extra=RUNTIME,
    )

    @field_validator("suite")
    @classmethod
    def _absolute(cls, path: str | None) -> str | None:
        return None if path is None else absolute_path(path)

    @model_validator(mode="after")
    def _suite_is_not_listed(self) -> EvaluateConfig:
        if "suite" in self.sets:
            raise ValueError("evaluate.sets: the suite set is added by evaluate.suite (a suite folder), not listed")
        return self
