"""Stage answers: questions (+ chunk text) -> one row per question with the model's own answers.

Per question: `reference` (greedy, document given), K `with_doc` samples and K `no_doc` samples, each with its
token logprobs and finish reason; with answers.explicitation on, also K `explicit` samples (explicitation.py).
Seeds derive from (run seed, question id, role), so a sample's identity is (request, seed, sample index).
The stage is sharded: a restart skips finished shards and produces the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from selftrain_core.backends.base import Backend, ChatRequest, ChatResult
from selftrain_core.backends.served import served_model, server_runtime, server_settings
from selftrain_core.backends.settings import GenerationSettings
from selftrain_core.backends.usage import usage_entry
from selftrain_core.config import RunConfig
from selftrain_core.config.base import result_settings, runtime_settings
from selftrain_core.errors import StageInputError
from selftrain_core.hashing import derive_seed, stable_hash
from selftrain_core.models.resolve import folder_fingerprint, resolve_model
from selftrain_core.prompts import load_prompt
from selftrain_core.stages.answers.explicitation import COLUMNS as EXPLICIT_COLUMNS
from selftrain_core.stages.answers.explicitation import ROLE as EXPLICIT
from selftrain_core.stages.answers.explicitation import explicit_request
from selftrain_core.stages.base import RunInfo, StagePlan, execute, make_plan
from selftrain_core.stages.progress import Report
from selftrain_core.stages.reuse import find_reusable
from selftrain_core.stages.shards import BackendShards
from selftrain_core.store import ArtifactRef, ArtifactStore

STAGE, VERSION = "answers", 4  # 4: the hf sampler draws by inverse CDF from per-row streams (new samples)
ROLES = ("reference", "with_doc", "no_doc")

_TEXTS = pa.list_(pa.string())
_LOGPROBS = pa.list_(pa.list_(pa.float32()))
SCHEMA = pa.schema(
    [
        ("answer_id", pa.string()),
        ("question_id", pa.string()),
        ("chunk_id", pa.string()),
        ("split", pa.string()),
        ("title", pa.string()),
        ("question", pa.string()),
        ("reference", pa.string()),
        ("reference_logprobs", pa.list_(pa.float32())),
        ("reference_finish", pa.string()),
        ("with_doc", _TEXTS),
        ("with_doc_logprobs", _LOGPROBS),
        ("with_doc_finish", _TEXTS),
        ("no_doc", _TEXTS),
        ("no_doc_logprobs", _LOGPROBS),
        ("no_doc_finish", _TEXTS),
        ("seeds", pa.string()),
        ("backend", pa.string()),
        ("model", pa.string()),
        ("sampling", pa.string()),
    ]
)


def roles(cfg: RunConfig) -> tuple[str, ...]:
    return ROLES + ((EXPLICIT,) if cfg.answers.explicitation else ())


def schema(cfg: RunConfig) -> pa.Schema:
    """The artifact's columns: SCHEMA, and the explicitation columns when answers.explicitation is on."""
    if not cfg.answers.explicitation:
        return SCHEMA
    return pa.schema(list(SCHEMA) + [pa.field(name, kind) for name, kind in EXPLICIT_COLUMNS])


def text_column(name: str) -> bool:
    """Every column but the token logprobs (most of the artifact's bytes): `columns=` of readers that need texts."""
    return not name.endswith("_logprobs")


def plan(cfg: RunConfig, questions: ArtifactRef, chunks: ArtifactRef) -> StagePlan:
    generation = GenerationSettings.for_answers(cfg)  # checked now: a served model cannot apply model.adapter
    # the dtype it samples in (model.dtype, or what `auto` resolves to on this machine)
    settings = {"answers": result_settings(cfg.answers), "seed": cfg.seed, "dtype": generation.dtype}
    runtime = runtime_settings(cfg.answers) | {"device": cfg.model.device}
    if generation.backend == "openai":
        settings["server"] = server_settings(generation.server)
        runtime.update(server_runtime(generation.server))
    names = [cfg.answers.with_document_prompt, cfg.answers.without_document_prompt]
    names += [cfg.answers.explicitation_prompt] if cfg.answers.explicitation else []
    prompts = [load_prompt(p).manifest_entry() for p in names]
    return make_plan(STAGE, VERSION, settings, [questions, chunks], sampler_models(cfg), prompts, runtime=runtime)


def sampler_models(cfg: RunConfig) -> list[dict[str, Any]]:
    """The model that samples the answers: the local policy (and its adapter), or the served one."""
    if cfg.answers.backend == "openai":
        return [served_model(cfg.answers.server).manifest_entry("policy")]
    return policy_models(cfg)


def policy_models(cfg: RunConfig) -> list[dict[str, Any]]:
    """The policy's manifest entries: the base model, and the adapter it samples through (rounds 2+)."""
    entries = [resolve_model(cfg.model.name, cfg.model.revision).manifest_entry("policy")]
    if cfg.model.adapter:
        fingerprint = folder_fingerprint(Path(cfg.model.adapter))
        entries.append({"role": "policy_adapter", "name": cfg.model.adapter, "fingerprint": fingerprint})
    return entries


def question_requests(cfg: RunConfig, question: dict[str, Any], passage: str) -> list[ChatRequest]:
    """The requests for one question: reference, with_doc samples, no_doc samples (and explicit samples)."""
    a = cfg.answers
    with_doc = load_prompt(a.with_document_prompt).messages(
        title=question["title"], passage=passage, question=question["question"]
    )
    no_doc = load_prompt(a.without_document_prompt).messages(question=question["question"])

    def seed(role: str) -> int:
        return derive_seed(cfg.seed, "answers", question["question_id"], role)

    def sampled(role: str, messages: list[dict[str, str]]) -> ChatRequest:
        return ChatRequest(
            request_id=f"{question['question_id']}/{role}",
            messages=messages,
            n=a.num_samples,
            temperature=a.temperature,
            top_p=a.top_p,
            max_tokens=a.max_new_tokens,
            seed=seed(role),
        )

    reference = ChatRequest(  # greedy, one completion
        request_id=f"{question['question_id']}/reference",
        messages=with_doc,
        temperature=0.0,
        max_tokens=a.max_new_tokens,
        seed=seed("reference"),
    )
    requests = [reference, sampled("with_doc", with_doc), sampled("no_doc", no_doc)]
    return requests + ([explicit_request(cfg, question)] if a.explicitation else [])


def answer_row(
    cfg: RunConfig, work_key: str, question: dict[str, Any], results: list[ChatResult], backend: str, model: str
) -> dict[str, Any]:
    by_role = dict(zip(roles(cfg), results, strict=True))
    reference = by_role["reference"].completions[0]
    row = {
        "answer_id": "ans-" + stable_hash([work_key, question["question_id"]]),
        "question_id": question["question_id"],
        "chunk_id": question["chunk_id"],
        "split": question["split"],
        "title": question["title"],
        "question": question["question"],
        "reference": reference.text,
        "reference_logprobs": reference.token_logprobs,
        "reference_finish": reference.finish_reason,
        "seeds": json.dumps({r: derive_seed(cfg.seed, "answers", question["question_id"], r) for r in roles(cfg)}),
        "backend": backend,
        "model": model,
        "sampling": json.dumps(
            {
                "temperature": cfg.answers.temperature,
                "top_p": cfg.answers.top_p,
                "n": cfg.answers.num_samples,
                "max_tokens": cfg.answers.max_new_tokens,
            }
        ),
    }
    for role in roles(cfg)[1:]:
        completions = by_role[role].completions
        row[role] = [c.text for c in completions]
        row[f"{role}_logprobs"] = [c.token_logprobs for c in completions]
        row[f"{role}_finish"] = [c.finish_reason for c in completions]
    return row


def run(
    cfg: RunConfig,
    plan: StagePlan,
    store: ArtifactStore,
    run_info: RunInfo,
    log: Callable[[str], None] = print,
    progress: Report | None = None,
) -> ArtifactRef:
    def compute(writer):
        questions = sorted(store.read_rows(plan.parent("questions")), key=lambda q: q["question_id"])
        passages = {c["chunk_id"]: c["text"] for c in store.read_rows(plan.parent("chunk"))}
        if not questions:
            raise StageInputError("no questions to answer: every question was rejected (see the questions stage)")
        split = {q["question_id"]: q["split"] for q in questions}

        def this_split(question_id: str) -> dict[str, str]:  # a reused row takes the split of this corpus
            return {"split": split[question_id]}

        reused = find_reusable(store, plan, "data", "question_id", split, cfg.reuse, log, this_split)
        shards = BackendShards(
            writer, "data", questions, cfg.answers.shard_size, "question_id", STAGE, log, reused.rows
        )
        generation = GenerationSettings.for_answers(cfg)
        model = generation.resolve()
        policy_name = model.name + (f"+adapter:{plan.models[1]['fingerprint']}" if cfg.model.adapter else "")

        def shard_rows(backend: Backend, shard: list[dict[str, Any]]) -> list[dict[str, Any]]:
            requests = [r for q in shard for r in question_requests(cfg, q, passages[q["chunk_id"]])]
            results = backend.generate(requests)
            n = len(roles(cfg))
            return [
                answer_row(cfg, plan.work_key, q, results[n * j : n * j + n], backend.name, policy_name)
                for j, q in enumerate(shard)
            ]

        n_roles = len(roles(cfg))
        usage = shards.generate(generation, model, shard_rows, schema(cfg), progress, "request", per_item=n_roles)
        return {
            "shards": len(shards.shards),
            "resumed_shards": len(shards.done),
            **reused.record(len(questions) - len(reused.rows)),
            "usage": usage_entry(generation.backend, policy_name, usage, generation.server),
            **shards.placement(),
        }

    return execute(plan, store, run_info, compute, log)
