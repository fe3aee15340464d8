"""Documents added since the last successful run, found through the artifact store (no Prefect database needed).

The last successful run on a source is the newest complete evaluate artifact whose lineage (evaluate -> chunk ->
ingest) reaches an ingest artifact read from the same source settings. A document is new when its id is not in
that ingest artifact or its text changed.
"""

from __future__ import annotations

from selftrain_core.config_base import result_settings
from selftrain_core.errors import ArtifactNotFoundError
from selftrain_core.hashing import stable_hash
from selftrain_core.runs.lineage_refs import parent_ref
from selftrain_core.store import ArtifactRef, ArtifactStore


def last_trained_ingest(store: ArtifactStore, source) -> ArtifactRef | None:
    """The ingest artifact behind the newest evaluation of a model trained on `source` (None: never trained)."""
    wanted = result_settings(source)
    for manifest in store.list("evaluate"):  # newest first
        try:
            chunk = parent_ref(store, manifest, "chunk")
            ingest = parent_ref(store, store.manifest("chunk", chunk.key), "ingest")
        except ArtifactNotFoundError:
            continue  # an evaluation whose upstream files were deleted says nothing about this store's documents
        if store.manifest("ingest", ingest.key)["config"]["ingest"]["source"] == wanted:
            return ingest
    return None


def _digests(store: ArtifactStore, ref: ArtifactRef) -> dict[str, str]:
    table = store.read_table(ref).select(["doc_id", "text"]).to_pylist()
    return {row["doc_id"]: stable_hash(row["text"]) for row in table}


def new_documents(store: ArtifactStore, previous: ArtifactRef, current: ArtifactRef) -> list[str]:
    """Ids of documents in `current` that `previous` lacks or held with other text, in `current`'s order."""
    if previous.key == current.key:
        return []  # the ingest key hashes the source's content: same key, same documents
    before = _digests(store, previous)
    return [doc_id for doc_id, digest in _digests(store, current).items() if before.get(doc_id) != digest]
