"""Evaluation's generation (new questions, references, every model's greedy answers) in shards of its own artifact.

Each model's requests are one table of the evaluate artifact (`answers_base`, `answers_<arm>`, `answers_previous`,
`questions_new`: request_id, text), written shard by shard with completion markers (stages/shards.py): a crash in
evaluate keeps the shards finished, and the rerun generates only the rest. With executor.kind=ray the shards run on
Ray actors (cluster/shard_pool.py); a trained arm's actors fetch its checkpoint from the shared store themselves
(evaluate/checkpoints.py). Texts depend on the requests only, not on where they ran, at a given shard size, batch
size and thread count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from selftrain_core.backends.base import Backend, ChatRequest
from selftrain_core.backends.settings import GenerationSettings
from selftrain_core.models.resolve import ResolvedModel
from selftrain_core.stages.shards import BackendShards
from selftrain_core.store import ArtifactWriter

TEXTS = pa.schema([("request_id", pa.string()), ("text", pa.string())])


def request_texts(backend: Backend, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A shard's rows: each request's first completion."""
    results = backend.generate([item["request"] for item in items])
    return [{"request_id": i["request_id"], "text": r.completions[0].text} for i, r in zip(items, results, strict=True)]


class Generation:
    """The tables one evaluate attempt generates into, and where their shards ran (for the manifest)."""

    def __init__(self, writer: ArtifactWriter, shard_size: int, log: Callable[[str], None]):
        self.writer, self.shard_size, self.log = writer, shard_size, log
        self.nodes: dict[str, dict[str, int]] = {}  # table -> {Ray node: shards} (executor.kind=ray)

    def texts(
        self,
        table: str,
        settings: GenerationSettings,
        model: ResolvedModel,
        requests: list[ChatRequest],
        spec: Any = None,
    ) -> list[str]:
        """The first completion of each request, in order, from the shards of `table` (computing those not done).
        `spec`: what a Ray actor opens instead of `settings` on `model` (a trained arm's checkpoint)."""
        ids = [r.request_id for r in requests]
        if len(set(ids)) != len(ids):
            raise ValueError(f"evaluate: the requests of {table} repeat an id")
        items = [{"request_id": r.request_id, "request": r} for r in requests]
        shards = BackendShards(self.writer, table, items, self.shard_size, "request_id", f"evaluate {table}", self.log)
        shards.generate(settings, model, request_texts, TEXTS, None, "request", spec=spec)
        if shards.nodes:
            self.nodes[table] = shards.nodes
        written = {row["request_id"]: row["text"] for row in shards.written_rows()}
        return [written[i] for i in ids]

    def manifest(self) -> dict[str, Any]:
        return {"ray_nodes": self.nodes} if self.nodes else {}
