"""Incremental runs: rows an earlier artifact of the same stage already computed for the same input items.

Item ids are derived from content (a chunk's id from its document's id, title and text and the chunk settings; a
question's from its chunk and the question writer; an answer's from its question and the sampler), and every
manifest records its plan's work key (stages/base.py: the stage's version, per-item settings, models and prompts,
without the parents). So a row of an earlier artifact with this plan's work key and one of this stage's item ids is
the row this stage would compute for that item: a weekly run on a corpus that grew copies those rows and computes
only the new documents' items. A changed document has new ids (recomputed); a removed one is simply not asked for.

Only rows are reused, never artifacts: the new artifact holds every row (in the order a run from scratch writes
them), so lineage, caching and deletion work on it alone, and the manifest names the artifacts rows came from.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from selftrain_core.errors import SelftrainError
from selftrain_core.stages.base import StagePlan
from selftrain_core.store import ArtifactStore

log = logging.getLogger(__name__)
Row = dict[str, Any]


class ReusedRows(Mapping[str, Row]):
    """id -> the row an earlier artifact holds for it. Found by reading the id column alone; a row is read when it is
    asked for, with the rest of its source shard (a stage's shard takes its reused rows from one or two earlier
    shards, in order), and the last two source shards are kept: memory holds the ids, not every reused row with its
    token logprobs. `extra(id)` overrides fields of the stored row (the split, which is the current corpus's)."""

    def __init__(self, store: ArtifactStore, stage: str, table: str, id_field: str, extra=None):
        self.store, self.stage, self.table, self.id_field, self.extra = store, stage, table, id_field, extra
        self.where: dict[str, tuple[str, int]] = {}  # id -> (artifact key, shard index)
        self._shards: OrderedDict[tuple[str, int], dict[str, Row]] = OrderedDict()

    def __getitem__(self, id_: str) -> Row:
        source = self.where[id_]
        if source not in self._shards:
            table = self.store.read_shard((self.stage, source[0]), self.table, source[1])
            self._shards[source] = {row[self.id_field]: row for row in table.to_pylist()}
            while len(self._shards) > 2:
                self._shards.popitem(last=False)
        self._shards.move_to_end(source)
        row = self._shards[source][id_]
        return {**row, **self.extra(id_)} if self.extra else row

    def __contains__(self, id_: object) -> bool:
        return id_ in self.where

    def __iter__(self) -> Iterator[str]:
        return iter(self.where)

    def __len__(self) -> int:
        return len(self.where)


@dataclass
class Reused:
    """Rows found for some of the wanted ids (id -> row, read when asked) and the artifacts they came from."""

    rows: ReusedRows
    sources: list[str] = field(default_factory=list)

    def record(self, computed: int) -> dict[str, Any]:
        """The manifest's account: rows copied, rows computed, and from which artifacts."""
        return {"reuse": {"reused_rows": len(self.rows), "computed_rows": computed, "reused_from": self.sources}}


def find_reusable(
    store: ArtifactStore,
    plan: StagePlan,
    table: str,
    id_field: str,
    wanted: Iterable[str],
    enabled: bool = True,
    say: Callable[[str], None] = print,
    extra: Callable[[str], Row] | None = None,
) -> Reused:
    """The rows of `table` that complete artifacts of `plan`'s stage with its work key hold for the `wanted` ids,
    newest artifact first (`extra(id)`: fields that replace the stored ones). The scan stops at the first artifact
    that adds no row: each artifact holds every row of its corpus, so the one before it rarely has more, and a weekly
    run reads one or two artifacts, not its whole history. An artifact that cannot be read is skipped (it is someone
    else's to repair)."""
    missing, found = set(wanted), Reused(ReusedRows(store, plan.stage, table, id_field, extra))
    if not enabled or not missing or not plan.work_key:
        return found
    for manifest in store.list(plan.stage):
        if manifest.get("work_key") != plan.work_key or manifest.get("key") == plan.key:
            continue
        if table not in manifest.get("tables", {}):
            continue
        try:
            where = _locate(store, manifest["key"], plan.stage, table, id_field, missing)
        except (SelftrainError, OSError) as exc:
            log.warning("%s: not reusing rows of %s (%s)", plan.stage, manifest["key"], exc)
            continue
        if not where:
            break
        found.rows.where.update(where)
        found.sources.append(manifest["key"])
        missing -= where.keys()
        if not missing:
            break
    if found.rows:
        say(f"{plan.stage}: reusing {len(found.rows)} rows of earlier artifacts {found.sources}")
    return found


def _locate(
    store: ArtifactStore, key: str, stage: str, table: str, id_field: str, ids: set[str]
) -> dict[str, tuple[str, int]]:
    """id -> (key, shard index) of an artifact's rows with one of `ids`, from the id column alone; all or nothing
    (every shard is checked against its checksum: one that fails raises)."""
    wanted, where = pa.array(sorted(ids), pa.string()), {}
    for index, shard in enumerate(store.iter_tables((stage, key), table, columns=[id_field])):
        for id_ in shard.filter(pc.is_in(shard[id_field], wanted))[id_field].to_pylist():
            where[id_] = (key, index)
    return where
