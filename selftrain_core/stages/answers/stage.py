"""Stage answers: questions (+ chunk text) -> one row per question with the model's own answers.

Per question: `reference` (greedy, document given), K `with_doc` samples and K `no_doc` samples, each with its
token logprobs and finish reason. Seeds derive from (run seed, question id, role), so a sample's identity is
(request, seed, sample index). The stage is sharded: a restart skips finished shards and produces the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pyarrow as pa

from selftrain_core.backends.base import ChatRequest, ChatResult
from selftrain_core.backends.errors import ServerUnavailableError
from selftrain_core.backends.loading import open_backend, stage_model
from selftrain_core.backends.served import served_model, server_runtime, server_settings
from selftrain_core.backends.usage import usage_entry
from selftrain_core.config import RunConfig
from selftrain_core.config.base import result_settings
from selftrain_core.errors import ConfigError, StageInputError
from selftrain_core.hashing import derive_seed, stable_hash
from selftrain_core.models.resolve import folder_fingerprint, resolve_model
from selftrain_core.prompts import load_prompt
from selftrain_core.stages.base import RunInfo, StagePlan, execute, make_plan
from selftrain_core.stages.progress import Report, progress_bar
from selftrain_core.store import ArtifactRef, ArtifactStore

STAGE, VERSION = "answers", 2
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


def plan(cfg: RunConfig, questions: ArtifactRef, chunks: ArtifactRef) -> StagePlan:
    settings = {"answers": result_settings(cfg.answers), "seed": cfg.seed, "dtype": cfg.model.dtype}
    runtime = {"batch_size": cfg.answers.batch_size, "shard_size": cfg.answers.shard_size, "device": cfg.model.device}
    server = cfg.answers.server
    if cfg.answers.backend == "openai":
        if cfg.model.adapter:
            raise ConfigError(
                "answers.backend is 'openai', which samples the served answers.server.model and cannot apply "
                f"model.adapter ({cfg.model.adapter}); serve the adapter and name it in answers.server.model, or "
                "use answers.backend: hf"
            )
        settings["server"] = server_settings(server)
        runtime.update(server_runtime(server))
    prompts = [
        load_prompt(p).manifest_entry() for p in (cfg.answers.with_document_prompt, cfg.answers.without_document_prompt)
    ]
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
    """The three requests for one question: reference, with_doc samples, no_doc samples."""
    a = cfg.answers
    with_doc = load_prompt(a.with_document_prompt).messages(
        title=question["title"], passage=passage, question=question["question"]
    )
    no_doc = load_prompt(a.without_document_prompt).messages(question=question["question"])

    def seed(role: str) -> int:
        return derive_seed(cfg.seed, "answers", question["question_id"], role)

    qid = question["question_id"]
    return [
        ChatRequest(f"{qid}/reference", with_doc, 1, 0.0, 1.0, a.max_new_tokens, seed("reference")),
        ChatRequest(
            f"{qid}/with_doc",
            with_doc,
            a.num_samples,
            a.temperature,
            a.top_p,
            a.max_new_tokens,
            seed("with_doc"),
        ),
        ChatRequest(f"{qid}/no_doc", no_doc, a.num_samples, a.temperature, a.top_p, a.max_new_tokens, seed("no_doc")),
    ]


def answer_row(
    cfg: RunConfig, key: str, question: dict[str, Any], results: list[ChatResult], backend: str, model: str
) -> dict[str, Any]:
    by_role = dict(zip(ROLES, results, strict=True))
    reference = by_role["reference"].completions[0]
    row = {
        "answer_id": "ans-" + stable_hash([key, question["question_id"]]),
        "question_id": question["question_id"],
        "chunk_id": question["chunk_id"],
        "split": question["split"],
        "title": question["title"],
        "question": question["question"],
        "reference": reference.text,
        "reference_logprobs": reference.token_logprobs,
        "reference_finish": reference.finish_reason,
        "seeds": json.dumps({r: derive_seed(cfg.seed, "answers", question["question_id"], r) for r in ROLES}),
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
    for role in ("with_doc", "no_doc"):
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
        size = cfg.answers.shard_size
        shards = [questions[i : i + size] for i in range(0, len(questions), size)]
        if not shards:
            raise StageInputError("no questions to answer: every question was rejected (see the questions stage)")
        # A finished shard counts only if it holds the same questions (shard_size may have changed).
        done = {}
        for i, marker in writer.done_shards("data").items():
            if i < len(shards) and marker["meta"].get("question_ids") == [q["question_id"] for q in shards[i]]:
                done[i] = marker
            else:
                writer.discard_shard("data", i)
        todo = [i for i in range(len(shards)) if i not in done]
        if done:
            log(f"answers: resuming, {len(done)} of {len(shards)} shards already done")
        a = cfg.answers
        model = stage_model(a.backend, a.server, cfg.model.name, cfg.model.revision)
        policy_name = model.name + (f"+adapter:{plan.models[1]['fingerprint']}" if cfg.model.adapter else "")
        remaining = sum(len(shards[i]) for i in todo) * len(ROLES)
        finished = sum(len(shards[i]) for i in done) * len(ROLES)
        with progress_bar(remaining, "answers", "request", progress, finished) as update, ExitStack() as opened:
            backend = None
            for index in todo:
                if backend is None:  # load the model (or check the server) only when there is work
                    try:
                        backend = open_backend(
                            a.backend,
                            model,
                            cfg.model.dtype,
                            cfg.model.device,
                            a.batch_size,
                            cfg.model.adapter,
                            update,
                            a.server,
                            a.vllm,
                        )
                    except ServerUnavailableError:
                        if not done:  # nothing to resume from: leave no folder behind
                            writer.abort()
                        raise
                    opened.callback(backend.close)  # the engine's memory is free before the next stage
                requests = [r for q in shards[index] for r in question_requests(cfg, q, passages[q["chunk_id"]])]
                results = backend.generate(requests)
                rows = [
                    answer_row(cfg, plan.key, q, results[3 * j : 3 * j + 3], backend.name, policy_name)
                    for j, q in enumerate(shards[index])
                ]
                writer.write_shard(
                    "data",
                    index,
                    pa.Table.from_pylist(rows, schema=SCHEMA),
                    meta={"question_ids": [q["question_id"] for q in shards[index]]},
                )
        return {
            "shards": len(shards),
            "resumed_shards": len(done),
            "usage": usage_entry(a.backend, policy_name, backend and backend.usage, a.server),
        }

    return execute(plan, store, run_info, compute, log)
