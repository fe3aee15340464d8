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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from selftrain_core.errors import SelftrainError
from selftrain_core.stages.base import StagePlan
from selftrain_core.store import ArtifactStore

log = logging.getLogger(__name__)
Row = dict[str, Any]


@dataclass
class Reused:
    """Rows found for some of the wanted ids (id -> row) and the artifacts they came from."""

    rows: dict[str, Row] = field(default_factory=dict)
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
) -> Reused:
    """The rows of `table` that complete artifacts of `plan`'s stage with its work key hold for the `wanted` ids,
    newest artifact first. The scan stops at the first artifact that adds no row: each artifact holds every row of
    its corpus, so the one before it rarely has more, and a weekly run reads one or two artifacts, not its whole
    history. An artifact that cannot be read is skipped (it is someone else's to repair)."""
    missing, found = set(wanted), Reused()
    if not enabled or not missing or not plan.work_key:
        return found
    for manifest in store.list(plan.stage):
        if manifest.get("work_key") != plan.work_key or manifest.get("key") == plan.key:
            continue
        if table not in manifest.get("tables", {}):
            continue
        try:
            rows = _rows_for(store, (plan.stage, manifest["key"]), table, id_field, missing)
        except (SelftrainError, OSError) as exc:
            log.warning("%s: not reusing rows of %s (%s)", plan.stage, manifest["key"], exc)
            continue
        if not rows:
            break
        found.rows.update(rows)
        found.sources.append(manifest["key"])
        missing -= rows.keys()
        if not missing:
            break
    if found.rows:
        say(f"{plan.stage}: reusing {len(found.rows)} rows of earlier artifacts {found.sources}")
    return found


def _rows_for(store: ArtifactStore, ref: tuple[str, str], table: str, id_field: str, ids: set[str]) -> dict[str, Row]:
    """id -> row of an artifact's rows with one of `ids`; all or nothing (a shard that fails its checksum raises)."""
    wanted, rows = pa.array(sorted(ids), pa.string()), {}
    for shard in store.iter_tables(ref, table):
        for row in shard.filter(pc.is_in(shard[id_field], wanted)).to_pylist():
            rows[row[id_field]] = row
    return rows
