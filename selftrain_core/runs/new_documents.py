"""Documents added since the last successful run, found through the artifact store (no Prefect database needed).

The last successful run of a configuration is the newest complete evaluate artifact written with the same run
signature (selftrain_core.config.signature: every result-relevant setting, the source's included), whose lineage
(evaluate -> chunk -> ingest) is still in the store. A document is new when its id is not in that run's ingest
artifact or its text changed; a changed model, threshold or method has no last run yet, so it trains.
"""

from __future__ import annotations

from dataclasses import dataclass

from selftrain_core.config import RunConfig
from selftrain_core.config.signature import run_signature
from selftrain_core.errors import ArtifactNotFoundError
from selftrain_core.hashing import stable_hash
from selftrain_core.runs.lineage_refs import parent_ref
from selftrain_core.store import ArtifactRef, ArtifactStore


@dataclass(frozen=True)
class LastRun:
    """The newest successful run of a configuration: the documents it saw and the checkpoint it trained."""

    ingest: ArtifactRef
    train: ArtifactRef | None  # None: its checkpoint was deleted (mode=full does not need it)


def last_run(store: ArtifactStore, cfg: RunConfig) -> LastRun | None:
    """The ingest and train artifacts behind the newest evaluation of a run of this configuration (None: never
    run, or its files were deleted)."""
    wanted = run_signature(cfg)
    for manifest in store.list("evaluate"):  # newest first
        if manifest.get("run_signature") != wanted:
            continue
        try:
            chunk = parent_ref(store, manifest, "chunk")
            ingest = parent_ref(store, store.manifest("chunk", chunk.key), "ingest")
        except ArtifactNotFoundError:
            continue  # an evaluation whose upstream files were deleted says nothing about this store's documents
        try:
            train = parent_ref(store, manifest, "train")
        except ArtifactNotFoundError:
            train = None
        return LastRun(ingest, train)
    return None


def last_trained_ingest(store: ArtifactStore, cfg: RunConfig) -> ArtifactRef | None:
    """The ingest artifact behind the newest evaluation of a run of this configuration (None: never run)."""
    found = last_run(store, cfg)
    return found and found.ingest


def _digests(store: ArtifactStore, ref: ArtifactRef) -> dict[str, str]:
    table = store.read_table(ref).select(["doc_id", "text"]).to_pylist()
    return {row["doc_id"]: stable_hash(row["text"]) for row in table}


def document_changes(store: ArtifactStore, previous: ArtifactRef, current: ArtifactRef) -> tuple[list[str], list[str]]:
    """(new or changed, removed) document ids: those of `current` that `previous` lacks or held with other text,
    in `current`'s order, and those of `previous` that `current` lacks."""
    if previous.key == current.key:
        return [], []  # the ingest key hashes the source's content: same key, same documents
    before, now = _digests(store, previous), _digests(store, current)
    return [d for d, digest in now.items() if before.get(d) != digest], [d for d in before if d not in now]


def held_out_now(store: ArtifactStore, previous: ArtifactRef, current: ArtifactRef) -> list[str]:
    """Documents `previous` had in training that `current` holds out: evaluating an adapter that continues the
    previous one on them would measure what it was trained on. (None with ingest.split_rule=stable.)"""

    def splits(ref: ArtifactRef) -> dict[str, str]:
        return {r["doc_id"]: r["split"] for r in store.read_table(ref).select(["doc_id", "split"]).to_pylist()}

    before = splits(previous)
    return [d for d, split in splits(current).items() if split == "test" and before.get(d) == "train"]
