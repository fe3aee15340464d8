"""What a retraining compares with: documents added, and documents the last run trained on that are held out now."""

import pyarrow as pa

from selftrain_core.runs.new_documents import document_changes, held_out_now
from selftrain_core.store import ArtifactStore, ArtifactWriter


def ingest_artifact(store: ArtifactStore, key: str, docs: dict[str, tuple[str, str]]):
    writer = ArtifactWriter(store, "ingest", key)
    rows = [{"doc_id": d, "text": text, "split": split} for d, (text, split) in docs.items()]
    writer.write_table("data", pa.Table.from_pylist(rows))
    return writer.commit({})


def test_added_changed_removed_and_moved_to_held_out(tmp_path):
    store = ArtifactStore(str(tmp_path))
    before = ingest_artifact(store, "a", {"d1": ("one", "train"), "d2": ("two", "test"), "d3": ("three", "train")})
    after = ingest_artifact(store, "b", {"d1": ("one", "test"), "d2": ("two!", "test"), "d4": ("four", "train")})
    assert document_changes(store, before, after) == (["d2", "d4"], ["d3"])
    assert held_out_now(store, before, after) == ["d1"]  # trained on before, held out now; d2 was held out already
    assert held_out_now(store, before, before) == []
