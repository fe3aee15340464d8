"""Stage questions: chunks -> questions (question_id, chunk_id, doc_id, split, question, title, generator, prompt_id).

The policy model writes questions from a prompt template. Filters run in order and the first that fails names
the reason; rejected rows are kept in the `rejected` table: empty, not_a_question, too_short, too_long,
meta_question (asks about "the passage" rather than the world), missing_subject (names nothing of
the document's title, so it cannot stand without the document), near_duplicate (word-set Jaccard with a kept
question reaches the threshold).

Generation is sharded (stages/shards.py): each shard's completions are kept raw in the artifact's `generated` table,
and the filters run once all shards are done, over every chunk in order (the near-duplicate filter compares a
question with those kept before it), so a resumed run keeps and rejects exactly what an uninterrupted one does.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from selftrain_core.backends.base import Backend, ChatRequest
from selftrain_core.backends.served import ServedModel, server_runtime, server_settings
from selftrain_core.backends.settings import GenerationSettings
from selftrain_core.backends.usage import Usage, usage_entry
from selftrain_core.config import RunConfig
from selftrain_core.config.base import result_settings, runtime_settings
from selftrain_core.hashing import derive_seed, stable_hash
from selftrain_core.models.precision import inference_dtype
from selftrain_core.models.resolve import ResolvedModel
from selftrain_core.prompts import load_prompt
from selftrain_core.stages.base import RunInfo, StagePlan, execute, make_plan
from selftrain_core.stages.progress import Report
from selftrain_core.stages.questions.config import QuestionsConfig
from selftrain_core.stages.questions.dedupe import NearDuplicates, word_counts
from selftrain_core.stages.reuse import Reused, find_reusable
from selftrain_core.stages.shards import BackendShards
from selftrain_core.store import ArtifactRef, ArtifactStore, ArtifactWriter

STAGE, VERSION = "questions", 4  # 4: sampled questions (temperature > 0) draw with the new hf sampler

SCHEMA = pa.schema(
    [
        ("question_id", pa.string()),
        ("chunk_id", pa.string()),
        ("doc_id", pa.string()),
        ("split", pa.string()),
        ("title", pa.string()),
        ("question", pa.string()),
        ("raw_output", pa.string()),
        ("generator", pa.string()),
        ("prompt_id", pa.string()),
    ]
)
REJECTED_SCHEMA = SCHEMA.append(pa.field("reason", pa.string()))
GENERATED = "generated"  # the raw completions, one row per chunk, written in shards
GENERATED_SCHEMA = pa.schema([("chunk_id", pa.string()), ("texts", pa.list_(pa.string()))])

# The filters' settings: they choose among the completions, not what the writer completes, so they stay out of the
# work key and a run that only changes them reuses every completion.
FILTER_SETTINGS = ("min_words", "max_words", "filters", "near_duplicate_jaccard")

_META = re.compile(
    r"\b(passage|text|article|paragraph|excerpt|document|author|this (essay|summary|section|question))\b", re.I
)
_PREFIX = re.compile(r"^\s*(question\s*\d*\s*[:.)-]|q\s*[:.)-]|\d+\s*[.)-]|[-*•])\s*", re.I)
_WORD = re.compile(r"[a-z0-9]+")


def extract_question(raw: str) -> str:
    """The first line that holds a question mark, cut after it, without a 'Question:' label or quotes."""
    for line in raw.splitlines():
        if "?" in line:
            line = _PREFIX.sub("", line.strip())
            return line[: line.index("?") + 1].strip().strip("\"'“”*").strip() or ""
    return _PREFIX.sub("", raw.strip().splitlines()[0]).strip() if raw.strip() else ""


def words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


_STOPWORDS = {"a", "an", "the", "of", "and", "in", "on", "for", "to", "de", "la", "le", "von", "van"}


def reject_reason(
    question: str, kept: NearDuplicates | list[set[str]], cfg: QuestionsConfig, title: str = ""
) -> str | None:
    """The first configured filter the question fails, or None to keep it; `kept`: the kept questions' words."""
    mine, subject = words(question), words(title) - _STOPWORDS
    if not isinstance(kept, NearDuplicates):
        kept = NearDuplicates(cfg.near_duplicate_jaccard, kept)
    checks = {
        "empty": lambda: not question,
        "not_a_question": lambda: not question.endswith("?"),
        "too_short": lambda: len(question.split()) < cfg.min_words,
        "too_long": lambda: len(question.split()) > cfg.max_words,
        "meta_question": lambda: bool(_META.search(question)),
        "missing_subject": lambda: bool(subject) and not subject & mine,
        "near_duplicate": lambda: kept.matches(mine),
    }
    return next((name for name in dict.fromkeys(cfg.filters) if checks[name]()), None)


def plan(cfg: RunConfig, chunks: ArtifactRef) -> StagePlan:
    q = cfg.questions
    # model and revision unset: the generator's fingerprint says it all (keys stay as before)
    settings = {
        "questions": result_settings(q, unset_without=("fingerprinted",)),
        "seed": cfg.seed,
        "dtype": inference_dtype(cfg.model, q.backend),
    }
    runtime = runtime_settings(q) | {"device": cfg.model.device}
    if q.backend == "openai":
        settings["server"] = server_settings(q.server)
        runtime.update(server_runtime(q.server))
    prompt = load_prompt(q.prompt)
    work = {**settings, "questions": {k: v for k, v in settings["questions"].items() if k not in FILTER_SETTINGS}}
    return make_plan(
        STAGE,
        VERSION,
        settings,
        [chunks],
        [generator_model(cfg).manifest_entry("generator")],
        [prompt.manifest_entry()],
        runtime=runtime,
        work=work,
    )


def generator_model(cfg: RunConfig) -> ResolvedModel | ServedModel:
    """Who writes the questions: the served model, questions.model, or the policy model."""
    return GenerationSettings.for_questions(cfg).resolve()


def build_requests(cfg: RunConfig, chunks: list[dict[str, Any]]) -> list[ChatRequest]:
    prompt, q = load_prompt(cfg.questions.prompt), cfg.questions
    return [
        ChatRequest(
            request_id=chunk["chunk_id"],
            messages=prompt.messages(title=chunk["title"], passage=chunk["text"]),
            n=q.questions_per_chunk,
            temperature=q.temperature,
            top_p=q.top_p,
            max_tokens=q.max_new_tokens,
            seed=derive_seed(cfg.seed, "questions", chunk["chunk_id"]),
        )
        for chunk in chunks
    ]


def generate_texts(
    cfg: RunConfig,
    plan: StagePlan,
    writer: ArtifactWriter,
    chunks: list[dict[str, Any]],
    model: ResolvedModel | ServedModel,
    log: Callable[[str], None],
    progress: Report | None,
) -> tuple[dict[str, list[str]], BackendShards, Usage | None, Reused]:
    """chunk_id -> its completions' texts (finished shards read back, earlier artifacts' reused, the rest
    generated), the shards, this attempt's usage, and the completions reused."""
    reused = find_reusable(writer.store, plan, GENERATED, "chunk_id", (c["chunk_id"] for c in chunks), cfg.reuse, log)
    shards = BackendShards(writer, GENERATED, chunks, cfg.questions.shard_size, "chunk_id", STAGE, log, reused.rows)
    texts = {row["chunk_id"]: row["texts"] for row in [*shards.finished_rows(), *reused.rows.values()]}

    def shard_rows(backend: Backend, shard: list[dict[str, Any]]) -> list[dict[str, Any]]:
        results = backend.generate(build_requests(cfg, shard))
        rows = [
            {"chunk_id": chunk["chunk_id"], "texts": [c.text for c in result.completions]}
            for chunk, result in zip(shard, results, strict=True)
        ]
        texts.update((row["chunk_id"], row["texts"]) for row in rows)
        return rows

    generation = GenerationSettings.for_questions(cfg)
    usage = shards.generate(generation, model, shard_rows, GENERATED_SCHEMA, progress, "chunk")
    if shards.nodes:  # Ray actors wrote the shards: their rows are read back, not collected here
        texts = {row["chunk_id"]: row["texts"] for row in shards.written_rows()}
    return texts, shards, usage, reused


def run(
    cfg: RunConfig,
    plan: StagePlan,
    store: ArtifactStore,
    run_info: RunInfo,
    log: Callable[[str], None] = print,
    progress: Report | None = None,
) -> ArtifactRef:
    def compute(writer):
        chunks = store.read_rows(plan.parent("chunk"))
        model, q = generator_model(cfg), cfg.questions
        texts, shards, usage, reused = generate_texts(cfg, plan, writer, chunks, model, log, progress)
        extracted = {c["chunk_id"]: [extract_question(t) for t in texts[c["chunk_id"]]] for c in chunks}
        counts = word_counts(words(question) for found in extracted.values() for question in found)
        kept, rejected, kept_words = [], [], NearDuplicates(q.near_duplicate_jaccard, frequencies=counts)
        for chunk in chunks:
            for index, text in enumerate(texts[chunk["chunk_id"]]):
                question = extracted[chunk["chunk_id"]][index]
                row = {
                    "question_id": "q-" + stable_hash([plan.work_key, chunk["chunk_id"], index]),
                    "chunk_id": chunk["chunk_id"],
                    "doc_id": chunk["doc_id"],
                    "split": chunk["split"],
                    "title": chunk["title"],
                    "question": question,
                    "raw_output": text,
                    "generator": f"{q.backend}:{model.name}",
                    "prompt_id": cfg.questions.prompt,
                }
                reason = reject_reason(question, kept_words, cfg.questions, chunk["title"])
                if reason:
                    rejected.append({**row, "reason": reason})
                else:
                    kept.append(row)
                    kept_words.add(words(question))
        writer.write_table("data", pa.Table.from_pylist(kept, schema=SCHEMA))
        writer.write_table("rejected", pa.Table.from_pylist(rejected, schema=REJECTED_SCHEMA))
        splits = dict(Counter(r["split"] for r in kept))
        return {
            "drops": dict(Counter(r["reason"] for r in rejected)),
            "splits": splits,
            "shards": len(shards.shards),
            "resumed_shards": len(shards.done),
            **reused.record(len(chunks) - len(reused.rows)),
            "usage": usage_entry(q.backend, model.name, usage, q.server),
            **shards.placement(),
        }

    return execute(plan, store, run_info, compute, log)
