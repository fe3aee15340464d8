"""Stage ingest: a source -> documents (doc_id, source, source_revision, native_id, title, category, text, split,
gold_question, gold_answer: a question and answer no model wrote, where the source has one; else null).

The train/test split is made here, by document and stratified by category, so no held-out document can leak
into training through a later stage.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from selftrain_core.config import RunConfig
from selftrain_core.config.base import result_settings
from selftrain_core.errors import SourceError
from selftrain_core.hashing import stable_hash
from selftrain_core.stages.base import RunInfo, StagePlan, execute, make_plan
from selftrain_core.stages.ingest.sources import read_documents, source_fingerprint
from selftrain_core.store import ArtifactRef, ArtifactStore

STAGE, VERSION = "ingest", 3

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


def assign_splits(docs: list[dict[str, Any]], test_fraction: float, seed: int) -> None:
    """Hold out round(n * test_fraction) documents of each category, chosen by a seeded hash of the id."""
    by_category: dict[str | None, list[dict[str, Any]]] = {}
    for doc in docs:
        by_category.setdefault(doc["category"], []).append(doc)
    for group in by_category.values():
        group.sort(key=lambda d: stable_hash([seed, d["doc_id"]]))
        n_test = round(len(group) * test_fraction)
        if test_fraction > 0 and len(group) > 1:  # hold out at least one and keep at least one for training
            n_test = min(max(n_test, 1), len(group) - 1)
        for i, doc in enumerate(group):
            doc["split"] = "test" if i < n_test else "train"


def build_documents(cfg: RunConfig) -> tuple[list[dict[str, Any]], dict[str, int]]:
    raw = read_documents(cfg.ingest.source)
    if not raw:
        raise SourceError(f"the corpus is empty: source {cfg.ingest.source.kind} yielded no documents")
    docs, seen, drops = [], set(), {}
    for doc in raw:
        if doc["doc_id"] in seen:
            drops["duplicate_id"] = drops.get("duplicate_id", 0) + 1
            continue
        seen.add(doc["doc_id"])
        docs.append(doc)
    assign_splits(docs, cfg.ingest.test_fraction, cfg.seed)
    if cfg.ingest.test_fraction > 0 and not any(d["split"] == "test" for d in docs):
        raise SourceError(
            f"no document can be held out for evaluation ({len(docs)} documents, at most one per category): "
            "add documents or set ingest.test_fraction=0"
        )
    return docs, drops


def run(
    cfg: RunConfig,
    plan: StagePlan,
    store: ArtifactStore,
    run_info: RunInfo,
    log: Callable[[str], None] = print,
) -> ArtifactRef:
    def compute(writer):
        docs, drops = build_documents(cfg)
        writer.write_table("data", pa.Table.from_pylist(docs, schema=SCHEMA))
        splits = {s: sum(d["split"] == s for d in docs) for s in ("train", "test")}
        return {"drops": drops, "splits": splits, "source": cfg.ingest.source.kind}

    return execute(plan, store, run_info, compute, log)
