"""Generation in shards with completion markers, for the work that samples a backend (questions, answers, evaluate's
generation): a crash or a server that stays down loses at most the shard in flight, and the rerun resumes from the
finished shards.

A finished shard counts only if its marker lists the same items as the shard planned now (shard_size may have
changed); any other is discarded. The backend is opened only when a shard needs computing, so a fully resumed stage
loads no model and asks no server, and it is closed before the stage ends (an engine's memory is free before the
next stage). With executor.kind=ray the unfinished shards run on a pool of Ray actors instead (cluster/shard_pool.py),
written to the same artifact with the same markers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import ExitStack
from typing import Any

import pyarrow as pa

from selftrain_core.backends.base import Backend
from selftrain_core.backends.errors import ServerUnavailableError
from selftrain_core.backends.loading import open_backend
from selftrain_core.backends.served import ServedModel
from selftrain_core.backends.settings import GenerationSettings
from selftrain_core.backends.usage import Usage
from selftrain_core.models.resolve import ResolvedModel
from selftrain_core.stages.progress import Report, progress_bar
from selftrain_core.store import ArtifactWriter

Row = dict[str, Any]


class BackendShards:
    """`items` in shards of `shard_size`, each written as one shard of `table`; a shard's marker lists its items'
    `id_field` values under `<id_field>s` (e.g. question_ids). Built at the start of a stage's compute: it
    discards stale shards and logs what an earlier attempt finished."""

    def __init__(
        self,
        writer: ArtifactWriter,
        table: str,
        items: list[Row],
        shard_size: int,
        id_field: str,
        stage: str,
        log: Callable[[str], None],
        reused: Mapping[str, Row] | None = None,
    ):
        self.writer, self.table, self.stage, self.meta_key = writer, table, stage, f"{id_field}s"
        self.log = log
        self.reused = reused or {}  # item id -> the row an earlier artifact computed for it (stages/reuse.py)
        self.nodes: dict[str, int] = {}  # executor.kind=ray: the shards each node wrote in this attempt
        self.shards = [items[i : i + shard_size] for i in range(0, len(items), shard_size)]
        self.ids = [[item[id_field] for item in shard] for shard in self.shards]
        self.done: dict[int, dict[str, Any]] = {}
        for index, marker in writer.done_shards(table).items():
            if index < len(self.shards) and marker["meta"].get(self.meta_key) == self.ids[index]:
                self.done[index] = marker
            else:
                writer.discard_shard(table, index)
        if self.done:
            log(f"{stage}: resuming, {len(self.done)} of {len(self.shards)} shards already done")

    def finished_rows(self) -> list[Row]:
        """The rows of the shards an earlier attempt finished, in shard order."""
        return self._rows(self.done)

    def written_rows(self) -> list[Row]:
        """The rows of every shard written so far, in shard order."""
        return self._rows(self.writer.done_shards(self.table))

    def _rows(self, indices) -> list[Row]:
        return [row for i in sorted(indices) for row in self.writer.read_shard(self.table, i).to_pylist()]

    def placement(self) -> dict[str, dict[str, int]]:
        """The manifest's record of where this attempt's shards ran: {"ray_nodes": {node: shards}} on Ray."""
        return {"ray_nodes": self.nodes} if self.nodes else {}

    def generate(
        self,
        settings: GenerationSettings,
        model: ResolvedModel | ServedModel,
        shard_rows: Callable[[Backend, list[Row]], list[Row]],
        schema: pa.Schema,
        progress: Report | None,
        unit: str,
        per_item: int = 1,
        spec: Any = None,
    ) -> Usage | None:
        """Write every shard not done yet, its rows from `shard_rows(backend, items)`; the progress bar counts
        `per_item` `unit`s per item. `spec`: what a Ray actor opens instead of `settings` on `model` (an evaluated
        arm's checkpoint, fetched from the store on the actor's node). Returns this attempt's usage (None when every
        shard was done)."""
        todo = [i for i in range(len(self.shards)) if i not in self.done]
        copied = [i for i in todo if all(item in self.reused for item in self.ids[i])]  # no model needed
        todo = [i for i in todo if i not in copied]
        new = [j for i in todo for j in self.ids[i] if j not in self.reused]
        finished = (sum(len(s) for s in self.shards) - len(new)) * per_item
        with progress_bar(len(new) * per_item, self.stage, unit, progress, finished) as update:
            if todo and on_ray(settings):
                usage = self._generate_on_ray(settings, model, spec, shard_rows, schema, update, per_item, todo)
            else:
                usage = self._generate_here(settings, model, shard_rows, schema, update, todo)
        for index in copied:  # last: a model that fails to open (a user's mistake) leaves no folder behind
            self._write(index, [self.reused[item] for item in self.ids[index]], schema)
        return usage

    def _generate_here(self, settings, model, shard_rows, schema, update, todo) -> Usage | None:
        backend = None
        with ExitStack() as opened:
            for group in self._groups(todo):
                if backend is None:  # load the model (or check the server) only when there is work
                    try:
                        backend = open_backend(settings, model=model, progress=update)
                    except ServerUnavailableError:
                        if not self.done:  # nothing to resume from: leave no folder behind
                            self.writer.abort()
                        raise
                    opened.callback(backend.close)  # the engine's memory is free before the next stage
                computed = iter(shard_rows(backend, [item for i in group for item in self._new(i)]))
                for index in group:
                    rows = [self.reused[id_] if id_ in self.reused else next(computed) for id_ in self.ids[index]]
                    self._write(index, rows, schema)
        return backend and backend.usage

    def _write(self, index: int, rows: list[Row], schema: pa.Schema) -> None:
        table = pa.Table.from_pylist(rows, schema=schema)
        self.writer.write_shard(self.table, index, table, meta={self.meta_key: self.ids[index]})

    def _groups(self, todo: list[int]) -> list[list[int]]:
        """The shards to compute, in groups whose items not reused fill about one shard: a few new items spread
        over many shards (an incremental run's) go to the backend together, not one small batch per shard."""
        size = max(len(s) for s in self.shards) if self.shards else 1
        groups: list[list[int]] = []
        count = size  # start a new group at the first shard
        for index in todo:
            new = sum(item not in self.reused for item in self.ids[index])
            if count + new > size and count > 0:
                groups.append([])
                count = 0
            groups[-1].append(index)
            count += new
        return groups

    def _new(self, index: int) -> list[Row]:
        """A shard's items that no earlier artifact computed."""
        return [item for item, id_ in zip(self.shards[index], self.ids[index], strict=True) if id_ not in self.reused]

    def _items(self, index: int) -> list[Row]:
        """A shard's items, each reused one carrying its row (REUSED)."""
        return [
            {**item, REUSED: self.reused[id_]} if id_ in self.reused else item
            for item, id_ in zip(self.shards[index], self.ids[index], strict=True)
        ]

    def _generate_on_ray(self, settings, model, spec, shard_rows, schema, update, per_item, todo) -> Usage:
        from selftrain_core.cluster.shard_pool import BackendSpec, ShardJob, run_on_cluster

        # read as actors free up: the driver holds the reused rows of the shards in flight, not of all of them
        jobs = (ShardJob(i, self._items(i), {self.meta_key: self.ids[i]}, len(self._new(i))) for i in todo)
        spec, rows = spec or BackendSpec.of(settings, model.fingerprint), merged_rows(shard_rows)
        usage, self.nodes = run_on_cluster(
            settings.executor, spec, rows, jobs, self.writer, self.table, schema, update, per_item, self.log, len(todo)
        )
        return usage


REUSED = "_reused_row"  # on an item sent to a Ray actor: the row an earlier artifact computed for it


def merged_rows(shard_rows: Callable[[Backend, list[Row]], list[Row]]) -> Callable[[Backend, list[Row]], list[Row]]:
    """`shard_rows` for a shard some of whose items carry their reused row: only the others reach the backend."""

    def rows(backend: Backend, items: list[Row]) -> list[Row]:
        new = [item for item in items if REUSED not in item]
        computed = iter(shard_rows(backend, new) if new else [])
        return [item[REUSED] if REUSED in item else next(computed) for item in items]

    return rows


def on_ray(settings: GenerationSettings) -> bool:
    """Whether a step's shards run on Ray actors: executor.kind=ray and a local model (a server is its own pool)."""
    return settings.executor is not None and settings.executor.kind == "ray" and settings.backend != "openai"
