"""Stage chunk: documents -> chunks (chunk_id, doc_id, chunk_index, char_start, char_end, text, n_tokens, split).

Windows of `max_tokens` policy-tokenizer tokens with `overlap_tokens` shared; character spans come from the
tokenizer's offsets, so `document.text[char_start:char_end] == chunk.text`. Chunks shorter than `min_tokens`
are kept in the `rejected` table with reason `too_short`. Documents are read one ingest shard at a time and each
shard's chunks written as a shard of their own, so memory does not grow with the corpus.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from selftrain_core.config import RunConfig
from selftrain_core.config.base import result_settings
from selftrain_core.hashing import stable_hash
from selftrain_core.models.loading import load_tokenizer
from selftrain_core.models.resolve import resolve_model
from selftrain_core.stages.base import RunInfo, StagePlan, execute, make_plan
from selftrain_core.store import ArtifactRef, ArtifactStore

STAGE, VERSION = "chunk", 2  # 2: chunk ids derive from the document's content, not the ingest artifact

SCHEMA = pa.schema(
    [
        ("chunk_id", pa.string()),
        ("doc_id", pa.string()),
        ("chunk_index", pa.int32()),
        ("char_start", pa.int64()),
        ("char_end", pa.int64()),
        ("text", pa.string()),
        ("n_tokens", pa.int32()),
        ("title", pa.string()),
        ("split", pa.string()),
    ]
)
REJECTED_SCHEMA = SCHEMA.append(pa.field("reason", pa.string()))


def plan(cfg: RunConfig, documents: ArtifactRef) -> StagePlan:
    model = resolve_model(cfg.model.name, cfg.model.revision)
    return make_plan(
        STAGE,
        VERSION,
        {"chunk": result_settings(cfg.chunk)},
        [documents],
        [model.manifest_entry("tokenizer")],
    )


def document_digest(doc: dict[str, Any]) -> str:
    """What a document's chunks are cut from: its title (in every prompt) and its text."""
    return stable_hash([doc["title"], doc["text"]])


def chunk_document(doc: dict[str, Any], tokenizer, cfg: RunConfig, work_key: str) -> list[dict[str, Any]]:
    """A document's chunks; their ids hash the chunker (`work_key`), the document's id and content and the index,
    so the same document chunked the same way has the same chunk ids in any corpus (stages/reuse.py)."""
    text, digest = doc["text"], document_digest(doc)
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    step = cfg.chunk.max_tokens - cfg.chunk.overlap_tokens
    chunks = []
    for index, start in enumerate(range(0, max(len(offsets), 1), step)):
        window = offsets[start : start + cfg.chunk.max_tokens]
        if not window:
            break
        char_start, char_end = window[0][0], window[-1][1]
        chunks.append(
            {
                "chunk_id": "chunk-" + stable_hash([work_key, doc["doc_id"], digest, index]),
                "doc_id": doc["doc_id"],
                "chunk_index": index,
                "char_start": char_start,
                "char_end": char_end,
                "text": text[char_start:char_end],
                "n_tokens": len(window),
                "title": doc["title"],
                "split": doc["split"],
            }
        )
        if start + cfg.chunk.max_tokens >= len(offsets):
            break
    return chunks


def run(
    cfg: RunConfig,
    plan: StagePlan,
    store: ArtifactStore,
    run_info: RunInfo,
    log: Callable[[str], None] = print,
) -> ArtifactRef:
    def compute(writer):
        tokenizer = load_tokenizer(resolve_model(cfg.model.name, cfg.model.revision))
        too_short = 0
        for index, documents in enumerate(store.iter_tables(plan.parent("ingest"))):
            kept, rejected = [], []
            for doc in documents.to_pylist():
                for chunk in chunk_document(doc, tokenizer, cfg, plan.work_key):
                    if chunk["n_tokens"] < cfg.chunk.min_tokens:
                        rejected.append({**chunk, "reason": "too_short"})
                    else:
                        kept.append(chunk)
            writer.write_shard("data", index, pa.Table.from_pylist(kept, schema=SCHEMA))
            writer.write_shard("rejected", index, pa.Table.from_pylist(rejected, schema=REJECTED_SCHEMA))
            too_short += len(rejected)
        return {"drops": {"too_short": too_short} if too_short else {}}

    return execute(plan, store, run_info, compute, log)
