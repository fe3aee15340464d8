"""Stage score: answers -> per question S_L, S_K and per-sample scores, by the configured knowledge scorer.

S_L (consistency with the document): the scorer applied to the with-document samples; low means the question is
ambiguous or not answerable from the document. S_K (knowledge): the scorer applied to the no-document samples;
low means the model does not know the answer on its own. Every scorer is agreement-oriented in [0, 1] (see
selftrain_core/scorers). Columns: score_id, answer_id, question_id, split, s_l, s_k, with_doc_scores,
no_doc_scores, scorer, scorer_version, details (JSON: the scorer's per-question extras), flags (bad input seen);
with answers.explicitation on, also explicit_support and explicit_scores (support.py).
The manifest counts each flag and records the scorer's id, version and models.

The answers are read shard by shard and scored score.shard_size questions at a time, each block written as a shard
with its completion marker: memory holds one block (the samples' logprobs are most of a corpus's answers), and a
rerun after a crash skips the finished blocks. Rows an earlier artifact scored with the same work key are copied
(reuse.py). With executor.kind=ray the blocks to score go to Ray actors that each load the scorer's models once
(engine.py), read as the actors free up.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from selftrain_core.config import RunConfig
from selftrain_core.config.base import result_settings, runtime_settings
from selftrain_core.hashing import stable_hash
from selftrain_core.models.precision import policy_dtype
from selftrain_core.scorers import scorer_class
from selftrain_core.scorers.base import ScoreInput
from selftrain_core.stages.answers.stage import policy_models
from selftrain_core.stages.base import RunInfo, StagePlan, execute, make_plan
from selftrain_core.stages.reuse import find_reusable
from selftrain_core.stages.score import support
from selftrain_core.stages.score.engine import (  # noqa: F401  (open_models, scorer_models: part of this stage's API)
    ScorerEngine,
    ScorerSpec,
    model_roles,
    open_configured_scorer,
    open_models,
    scorer_models,
)
from selftrain_core.stages.shards import REUSED, merged_rows
from selftrain_core.store import ArtifactRef, ArtifactStore

STAGE, VERSION = "score", 3  # 3: score ids derive from the answer and the scorer (reused across corpora)

SCHEMA = pa.schema(
    [
        ("score_id", pa.string()),
        ("answer_id", pa.string()),
        ("question_id", pa.string()),
        ("split", pa.string()),
        ("s_l", pa.float64()),
        ("s_k", pa.float64()),
        ("with_doc_scores", pa.list_(pa.float64())),
        ("no_doc_scores", pa.list_(pa.float64())),
        ("scorer", pa.string()),
        ("scorer_version", pa.int32()),
        ("details", pa.string()),
        ("flags", pa.list_(pa.string())),
    ]
)


def schema(cfg: RunConfig) -> pa.Schema:
    """SCHEMA, and the verification columns when the answers carry explicitations."""
    if not cfg.answers.explicitation:
        return SCHEMA
    return pa.schema(list(SCHEMA) + [pa.field(name, kind) for name, kind in support.COLUMNS])


def plan(cfg: RunConfig, answers: ArtifactRef) -> StagePlan:
    scorer = scorer_class(cfg.score.scorer)
    settings = {"score": result_settings(cfg.score), "scorer_version": scorer.version}
    models = [model.manifest_entry(role) for role, model in scorer_models(cfg).items()]
    roles = scorer.roles(cfg.score)
    if "policy" in roles or "judge" in roles:  # a generating scorer runs in the policy's dtype
        settings["policy_dtype"] = policy_dtype(cfg.model)
    if "policy" in roles:
        models += policy_models(cfg)[1:]  # the adapter the answers were sampled through, when there is one
    if cfg.answers.explicitation:
        settings["support_version"] = support.VERSION
    return make_plan(
        STAGE,
        VERSION,
        settings,
        [answers],
        models,
        runtime={"embedder": runtime_settings(cfg.embedder), "nli": runtime_settings(cfg.score.nli)},
    )


def score_inputs(answer: dict[str, Any], passage: str | None) -> tuple[ScoreInput, ScoreInput]:
    """(with-document input for S_L, no-document input for S_K) of one answers row."""
    common = {"question": answer["question"], "reference": answer["reference"]}
    return (
        ScoreInput(**common, samples=answer["with_doc"], logprobs=answer["with_doc_logprobs"], document=passage),
        ScoreInput(**common, samples=answer["no_doc"], logprobs=answer["no_doc_logprobs"]),
    )


def passages_for(store: ArtifactStore, answers: ArtifactRef) -> dict[str, str]:
    """chunk_id -> text, through the answers artifact's chunk parent."""
    parents = [ArtifactRef(**p) for p in store.manifest(answers.stage, answers.key)["parents"]]
    chunk = next(p for p in parents if p.stage == "chunk")
    return {c["chunk_id"]: c["text"] for c in store.read_rows(chunk)}


def score_rows(scorer, answers: list[dict[str, Any]], passages: dict[str, str], work_key: str, verify=None):
    """The score rows of `answers` (one block: one scorer call); `verify(block)` adds each row's verification
    columns."""
    inputs = [score_inputs(a, passages.get(a["chunk_id"])) for a in answers]
    results = scorer.score([i for i, _ in inputs] + [n for _, n in inputs]) if answers else []
    with_doc, no_doc = results[: len(answers)], results[len(answers) :]
    verified = verify(answers) if verify and answers else [{}] * len(answers)
    return [
        {
            "score_id": "score-" + stable_hash([work_key, a["answer_id"]]),
            "answer_id": a["answer_id"],
            "question_id": a["question_id"],
            "split": a["split"],
            "s_l": w.score,
            "s_k": n.score,
            "with_doc_scores": w.per_sample,
            "no_doc_scores": n.per_sample,
            "scorer": scorer.scorer_id,
            "scorer_version": scorer.version,
            "details": json.dumps({"with_doc": w.details, "no_doc": n.details}, ensure_ascii=False),
            "flags": sorted({f"with_doc:{f}" for f in w.flags} | {f"no_doc:{f}" for f in n.flags}),
            **v,
        }
        for a, w, n, v in zip(answers, with_doc, no_doc, verified, strict=True)
    ]


def answer_blocks(store: ArtifactStore, answers: ArtifactRef, size: int) -> Iterator[list[dict[str, Any]]]:
    """The answers rows in order, `size` at a time, read shard by shard: memory holds a block and a shard."""
    block: list[dict[str, Any]] = []
    for table in store.iter_tables(answers):
        block.extend(table.to_pylist())
        while len(block) >= size:
            yield block[:size]
            block = block[size:]
    if block:
        yield block


def blocks_to_write(writer, blocks: list[list[str]], reused: dict[str, Any]) -> tuple[list[int], list[int]]:
    """(blocks to score, blocks made of reused rows only) among those an earlier attempt did not finish; a finished
    shard of other blocks (another shard size) is discarded."""
    finished = set()
    for index, marker in writer.done_shards("data").items():
        if index < len(blocks) and marker["meta"].get("answer_ids") == blocks[index]:
            finished.add(index)
        else:
            writer.discard_shard("data", index)
    todo = [i for i in range(len(blocks)) if i not in finished]
    copied = [i for i in todo if all(a in reused for a in blocks[i])]
    return [i for i in todo if i not in copied], copied


def block_rows(cfg: RunConfig, work_key: str, passages: dict[str, str]) -> Callable[[ScorerEngine, list], list]:
    """The rows of a block of answers, scored by an engine (this process's, or a Ray actor's)."""
    explicit, method = cfg.answers.explicitation, cfg.score.explicitation_support

    def rows(engine: ScorerEngine, answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        verify = (lambda block: support.verify(engine.models, method, block, passages)) if explicit else None
        return score_rows(engine.scorer, answers, passages, work_key, verify)

    return rows


def score_on_ray(cfg: RunConfig, plan: StagePlan, writer, rows_of, jobs, expected: int, log) -> dict[str, Any]:
    """Score `jobs` (ShardJobs, read as actors free up) on Ray actors that each load the scorer's models once.
    Returns the manifest's placement."""
    from selftrain_core.cluster.shard_pool import run_on_cluster

    fingerprints = {m["role"]: m["fingerprint"] for m in plan.models}
    spec = ScorerSpec.of(cfg, {role: fingerprints[role] for role in model_roles(cfg)})
    _, nodes = run_on_cluster(
        cfg.executor, spec, rows_of, jobs, writer, "data", schema(cfg), lambda _: None, 1, log, expected
    )
    log(f"score: {expected} shards on Ray, shards per node {nodes}")
    return {"ray_nodes": nodes}


def run(
    cfg: RunConfig,
    plan: StagePlan,
    store: ArtifactStore,
    run_info: RunInfo,
    log: Callable[[str], None] = print,
) -> ArtifactRef:
    def compute(writer):
        from selftrain_core.cluster.shard_pool import ShardJob

        answers_ref = plan.parent("answers")
        ids = store.read_table(answers_ref, columns=["answer_id", "split"]).to_pydict()  # not the samples
        split = dict(zip(ids["answer_id"], ids["split"], strict=True))
        size = cfg.score.shard_size
        blocks = [ids["answer_id"][i : i + size] for i in range(0, len(split), size)]

        def this_split(answer_id: str) -> dict[str, str]:  # a reused row takes the split of this corpus
            return {"split": split[answer_id]}

        reused = find_reusable(store, plan, "data", "answer_id", split, cfg.reuse, log, this_split)
        scored, copied = blocks_to_write(writer, blocks, reused.rows)
        models = open_models(cfg, scorer_models(cfg))  # loaded at the first answer to score, if there is one
        engine = ScorerEngine(open_configured_scorer(cfg, models), models)
        passages = passages_for(store, answers_ref) if engine.scorer.needs_document or cfg.answers.explicitation else {}
        rows_of = merged_rows(block_rows(cfg, plan.work_key, passages))

        def jobs():  # the blocks to score, read shard by shard as they are needed
            wanted = set(scored)
            for index, block in enumerate(answer_blocks(store, answers_ref, size)):
                if index in wanted:
                    items = [{**a, REUSED: reused.rows[a["answer_id"]]} if a["answer_id"] in reused.rows else a
                             for a in block]  # fmt: skip
                    yield ShardJob(index, items, {"answer_ids": blocks[index]}, sum(REUSED not in i for i in items))

        start, placement = time.perf_counter(), {}
        if scored and cfg.executor.kind == "ray":
            placement = score_on_ray(cfg, plan, writer, rows_of, jobs(), len(scored), log)
        else:
            for job in jobs():
                rows = rows_of(engine, job.items)
                writer.write_shard("data", job.index, pa.Table.from_pylist(rows, schema=schema(cfg)), job.meta)
                log(f"score: shard {job.index + 1} of {len(blocks)}")
        seconds, new = time.perf_counter() - start, sum(a not in reused.rows for i in scored for a in blocks[i])
        for index in copied:  # last: a scorer that fails to load leaves no folder behind
            rows = [reused.rows[a] for a in blocks[index]]
            writer.write_shard(
                "data", index, pa.Table.from_pylist(rows, schema=schema(cfg)), {"answer_ids": blocks[index]}
            )
        flags = Counter(f for i in range(len(blocks)) for r in writer.read_shard("data", i).column("flags").to_pylist()
                        for f in r)  # fmt: skip
        return {
            "scorer": {"id": engine.scorer.scorer_id, "version": engine.scorer.version, "models": plan.models},
            "flags": dict(flags),
            "seconds_per_question": round(seconds / max(new, 1), 4),
            **reused.record(len(split) - len(reused.rows)),
            **placement,
        }

    return execute(plan, store, run_info, compute, log)
