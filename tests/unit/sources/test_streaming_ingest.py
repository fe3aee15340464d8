"""Ingest and chunk stream a corpus shard by shard: the written rows are those of the whole-corpus computation,
whatever the shard size, and a source that changes between ingest's two passes is refused."""

import json

import pytest

from selftrain_core.config.loading import build_run_config
from selftrain_core.errors import SourceError
from selftrain_core.stages.base import RunInfo
from selftrain_core.stages.chunk import stage as chunk
from selftrain_core.stages.ingest import stage as ingest
from selftrain_core.stages.ingest.sources.local_files import read
from selftrain_core.store import ArtifactStore
from tests.conftest import tiny_config_data

QUIET = {"log": lambda _: None}


def _corpus(path, n, duplicate_every=0):
    rows = []
    for i in range(n):
        doc_id = f"d{i - 1}" if duplicate_every and i % duplicate_every == 0 and i else f"d{i}"
        text = f"Document {i} says {i} is {i % 7}. " * 3
        rows.append({"id": doc_id, "title": f"T{i}", "text": text, "category": "c"})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def _ingest_and_chunk(cfg):
    store = ArtifactStore(cfg.artifact_root)
    ingest_ref = ingest.run(cfg, ingest.plan(cfg), store, RunInfo(), **QUIET)
    chunk_plan = chunk.plan(cfg, ingest_ref)
    chunk_ref = chunk.run(cfg, chunk_plan, store, RunInfo(), **QUIET)
    return store, ingest_ref, chunk_ref


@pytest.fixture
def config(tiny_lm, tiny_embedder, tmp_path):
    def make(corpus, root):
        return build_run_config(tiny_config_data(tiny_lm, tiny_embedder, corpus, tmp_path / root))

    return make


def test_sharded_ingest_and_chunk_write_the_rows_of_one_shard(config, tmp_path, monkeypatch):
    corpus = _corpus(tmp_path / "docs.jsonl", 23, duplicate_every=5)
    store, one_ingest, one_chunk = _ingest_and_chunk(config(corpus, "one"))
    assert len(store.manifest("ingest", one_ingest.key)["tables"]["data"]) == 1

    monkeypatch.setattr(ingest, "SHARD_DOCUMENTS", 4)
    sharded, many_ingest, many_chunk = _ingest_and_chunk(config(corpus, "many"))
    assert many_ingest.key == one_ingest.key and many_chunk.key == one_chunk.key  # the shard size is not in a key
    manifest = sharded.manifest("ingest", many_ingest.key)
    assert len(manifest["tables"]["data"]) == 5  # 19 distinct documents, 4 a shard
    assert manifest["row_counts"]["data"] == 19 and manifest["drops"] == {"duplicate_id": 4}
    assert sharded.read_rows(many_ingest) == store.read_rows(one_ingest)
    assert len(sharded.manifest("chunk", many_chunk.key)["tables"]["data"]) == 5
    for table in ("data", "rejected"):
        assert sharded.read_rows(many_chunk, table) == store.read_rows(one_chunk, table)
    assert {d["split"] for d in sharded.read_rows(many_ingest)} == {"train", "test"}


def test_ingest_reads_each_document_in_two_streamed_passes(config, tmp_path, monkeypatch):
    from selftrain_core.stages.ingest import sources

    passes, live = [], []
    original = sources.local_files.iter_documents

    def counted(cfg):
        passes.append(0)
        for doc in original(cfg):
            live.append(doc["doc_id"])
            yield doc

    monkeypatch.setattr(sources.local_files, "iter_documents", counted)
    monkeypatch.setattr(ingest, "SHARD_DOCUMENTS", 3)
    cfg = config(_corpus(tmp_path / "docs.jsonl", 10), "art")
    ref = ingest.run(cfg, ingest.plan(cfg), ArtifactStore(cfg.artifact_root), RunInfo(), **QUIET)
    assert len(passes) == 2 and len(live) == 20
    assert len(ArtifactStore(cfg.artifact_root).manifest("ingest", ref.key)["tables"]["data"]) == 4


def test_a_source_that_changes_between_the_passes_is_refused_and_leaves_nothing(config, tmp_path, monkeypatch):
    from selftrain_core.stages.ingest import sources

    corpus = _corpus(tmp_path / "docs.jsonl", 6)
    original = sources.local_files.iter_documents
    calls = []

    def growing(cfg):
        calls.append(0)
        yield from original(cfg)
        if len(calls) == 2:  # a document appended while ingest was writing
            yield from read(cfg.model_copy(update={"path": str(_corpus(tmp_path / "more.jsonl", 8))}))[6:]

    monkeypatch.setattr(sources.local_files, "iter_documents", growing)
    cfg = config(corpus, "art")
    plan = ingest.plan(cfg)
    with pytest.raises(SourceError, match="changed while it was read"):
        ingest.run(cfg, plan, ArtifactStore(cfg.artifact_root), RunInfo(), **QUIET)
    assert not (tmp_path / "art" / "ingest" / plan.key).exists()


def test_a_source_that_loses_a_document_between_the_passes_is_refused(config, tmp_path, monkeypatch):
    from selftrain_core.stages.ingest import sources

    original = sources.local_files.iter_documents
    calls = []

    def shrinking(cfg):
        calls.append(0)
        docs = list(original(cfg))
        yield from docs if len(calls) == 1 else docs[:-1]

    monkeypatch.setattr(sources.local_files, "iter_documents", shrinking)
    monkeypatch.setattr(ingest, "SHARD_DOCUMENTS", 2)  # shards are written before the loss is seen
    cfg = config(_corpus(tmp_path / "docs.jsonl", 6), "art")
    plan = ingest.plan(cfg)
    with pytest.raises(SourceError, match="6 documents in the first pass, 5 in the second"):
        ingest.run(cfg, plan, ArtifactStore(cfg.artifact_root), RunInfo(), **QUIET)
    assert not (tmp_path / "art" / "ingest" / plan.key).exists()


def test_a_non_utf8_jsonl_line_is_named_by_its_number(tmp_path):
    from selftrain_core.stages.ingest.config import LocalFilesSource

    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(SourceError, match=r"line 2 is not valid UTF-8"):
        read(LocalFilesSource(path=str(path)))
