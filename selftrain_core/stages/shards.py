"""The questions stage's generation, in shards of chunks with completion markers, so a crash or a server that
stays down loses at most the shard in flight and the rerun resumes (as the answers stage does).

Each shard's completions are kept raw in the artifact's `generated` table; the filters run once all shards are done,
over every chunk in order (the near-duplicate filter compares a question with those kept before it), so a resumed
run keeps and rejects exactly what an uninterrupted one does.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import pyarrow as pa

from selftrain_core.backends.base import ChatRequest
from selftrain_core.backends.errors import ServerUnavailableError
from selftrain_core.backends.loading import open_backend
from selftrain_core.backends.usage import Usage
from selftrain_core.config import RunConfig
from selftrain_core.stages.progress import Report, progress_bar
from selftrain_core.store import ArtifactWriter

TABLE = "generated"
GENERATED_SCHEMA = pa.schema([("chunk_id", pa.string()), ("texts", pa.list_(pa.string()))])


def generate_in_shards(
    cfg: RunConfig,
    writer: ArtifactWriter,
    chunks: list[dict[str, Any]],
    model,
    build_requests: Callable[[RunConfig, list[dict[str, Any]]], list[ChatRequest]],
    log: Callable[[str], None],
    progress: Report | None,
) -> tuple[dict[str, list[str]], int, int, Usage | None]:
    """chunk_id -> its completions' texts, the number of shards, of resumed shards, and this attempt's usage."""
    q = cfg.questions
    shards = [chunks[i : i + q.shard_size] for i in range(0, len(chunks), q.shard_size)]
    done: dict[int, dict[str, Any]] = {}
    for index, marker in writer.done_shards(TABLE).items():  # a shard counts only if it holds the same chunks
        if index < len(shards) and marker["meta"].get("chunk_ids") == [c["chunk_id"] for c in shards[index]]:
            done[index] = marker
        else:
            writer.discard_shard(TABLE, index)
    if done:
        log(f"questions: resuming, {len(done)} of {len(shards)} shards already done")
    texts = {row["chunk_id"]: row["texts"] for i in sorted(done) for row in writer.read_shard(TABLE, i).to_pylist()}
    todo = [i for i in range(len(shards)) if i not in done]
    remaining, finished = sum(len(shards[i]) for i in todo), sum(len(shards[i]) for i in done)
    backend = None
    with progress_bar(remaining, "questions", "chunk", progress, finished) as update, ExitStack() as opened:
        for index in todo:
            if backend is None:  # load the model (or check the server) only when there is work
                try:
                    backend = open_backend(
                        q.backend,
                        model,
                        cfg.model.dtype,
                        cfg.model.device,
                        q.batch_size,
                        None,
                        update,
                        q.server,
                        q.vllm,
                    )
                except ServerUnavailableError:
                    if not done:  # nothing to resume from: leave no folder behind
                        writer.abort()
                    raise
                opened.callback(backend.close)
            results = backend.generate(build_requests(cfg, shards[index]))
            rows = [
                {"chunk_id": chunk["chunk_id"], "texts": [c.text for c in result.completions]}
                for chunk, result in zip(shards[index], results, strict=True)
            ]
            meta = {"chunk_ids": [c["chunk_id"] for c in shards[index]]}
            writer.write_shard(TABLE, index, pa.Table.from_pylist(rows, schema=GENERATED_SCHEMA), meta=meta)
            texts.update((row["chunk_id"], row["texts"]) for row in rows)
    return texts, len(shards), len(done), backend and backend.usage
