"""Stage ingest: a source -> documents (doc_id, source, source_revision, native_id, title, category, text, split,
gold_question, gold_answer: a question and answer no model wrote, where the source has one; else null).

The train/test split is made here, by document and stratified by category, so no held-out document can leak
into training through a later stage. The source is read twice, streamed: ids and categories first (to split),
then the documents, written SHARD_DOCUMENTS at a time, so memory does not grow with the corpus's text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from selftrain_core.config import RunConfig
from selftrain_core.config.base import result_settings
from selftrain_core.errors import SourceError
from selftrain_core.hashing import stable_hash
from selftrain_core.stages.base import RunInfo, StagePlan, execute, make_plan
from selftrain_core.stages.ingest.sources import iter_documents, source_fingerprint
from selftrain_core.store import ArtifactRef, ArtifactStore

STAGE, VERSION = "ingest", 3
# Documents per Parquet shard: ingest holds one shard's documents in memory, never the corpus. A corpus of up to
# this many documents is one shard, as before shards.
SHARD_DOCUMENTS = 2_000

SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("source", pa.string()),
        ("source_revision", pa.string()),
        ("native_id", pa.string()),
        ("title", pa.string()),
        ("category", pa.string()),
        ("text", pa.string()),
        ("split", pa.string()),
        ("gold_question", pa.string()),
        ("gold_answer", pa.string()),
    ]
)


def plan(cfg: RunConfig) -> StagePlan:
    settings = {
        "ingest": result_settings(cfg.ingest),
        "seed": cfg.seed,
        "source_fingerprint": source_fingerprint(cfg.ingest.source),
    }
    return make_plan(STAGE, VERSION, settings, runtime={})


def assign_splits(
    ids_by_category: dict[str | None, list[str]], test_fraction: float, seed: int, rule: str = "stratified"
) -> dict[str, str]:
    """Each document id's split. stratified: round(n * test_fraction) documents of each category are held out,
    chosen by a seeded hash of the id. stable: a document is held out when its seeded hash, read as a number in
    [0, 1), is below test_fraction: its split depends on its id alone, never on the other documents."""
    if rule == "stable":
        return {
            doc_id: "test" if int(stable_hash([seed, "split", doc_id]), 16) / 16**16 < test_fraction else "train"
            for ids in ids_by_category.values()
            for doc_id in ids
        }
    splits = {}
    for ids in ids_by_category.values():
        ordered = sorted(ids, key=lambda doc_id: stable_hash([seed, doc_id]))
        n_test = round(len(ordered) * test_fraction)
        if test_fraction > 0 and len(ordered) > 1:  # hold out at least one and keep at least one for training
            n_test = min(max(n_test, 1), len(ordered) - 1)
        for i, doc_id in enumerate(ordered):
            splits[doc_id] = "test" if i < n_test else "train"
    return splits


def plan_splits(cfg: RunConfig) -> tuple[dict[str, str], dict[str, int]]:
    """First pass over the source: each document's id and category, never its text, give the split of every id
    (the first of documents sharing an id is kept). Returns the splits and the drop counts."""
    ids_by_category: dict[str | None, list[str]] = {}
    seen: set[str] = set()
    drops: dict[str, int] = {}
    for doc in iter_documents(cfg.ingest.source):
        if doc["doc_id"] in seen:
            drops["duplicate_id"] = drops.get("duplicate_id", 0) + 1
            continue
        seen.add(doc["doc_id"])
        ids_by_category.setdefault(doc["category"], []).append(doc["doc_id"])
    if not seen:
        raise SourceError(f"the corpus is empty: source {cfg.ingest.source.kind} yielded no documents")
    splits = assign_splits(ids_by_category, cfg.ingest.test_fraction, cfg.seed, cfg.ingest.split_rule)
    if cfg.ingest.test_fraction > 0 and "test" not in splits.values():
        raise SourceError(
            f"no document can be held out for evaluation ({len(splits)} documents, at most one per category): "
            "add documents or set ingest.test_fraction=0"
        )
    return splits, drops


def document_shards(cfg: RunConfig, splits: dict[str, str]) -> Iterator[list[dict[str, Any]]]:
    """Second pass: the documents with their split, SHARD_DOCUMENTS at a time, in source order."""
    shard: list[dict[str, Any]] = []
    seen: set[str] = set()
    for doc in iter_documents(cfg.ingest.source):
        if doc["doc_id"] in seen:
            continue
        seen.add(doc["doc_id"])
        if doc["doc_id"] not in splits:
            raise SourceError(
                f"source {cfg.ingest.source.kind} changed while it was read (document {doc['native_id']!r} "
                "appeared in the second pass only): run again once it is stable"
            )
        shard.append({**doc, "split": splits[doc["doc_id"]]})
        if len(shard) == SHARD_DOCUMENTS:
            yield shard
            shard = []
    if shard:
        yield shard


def run(
    cfg: RunConfig,
    plan: StagePlan,
    store: ArtifactStore,
    run_info: RunInfo,
    log: Callable[[str], None] = print,
) -> ArtifactRef:
    def compute(writer):
        splits, drops = plan_splits(cfg)
        try:
            written = 0
            for index, shard in enumerate(document_shards(cfg, splits)):
                writer.write_shard("data", index, pa.Table.from_pylist(shard, schema=SCHEMA))
                written += len(shard)
            if written != len(splits):
                raise SourceError(
                    f"source {cfg.ingest.source.kind} changed while it was read ({len(splits)} documents in the "
                    f"first pass, {written} in the second): run again once it is stable"
                )
        except SourceError:
            writer.abort()  # shards of a source that changed are no one's to resume: nothing stays behind
            raise
        counts = {s: sum(v == s for v in splits.values()) for s in ("train", "test")}
        return {"drops": drops, "splits": counts, "source": cfg.ingest.source.kind}

    return execute(plan, store, run_info, compute, log)
