import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from selftrain_core.config import RunConfig
from selftrain_core.errors import SourceError
from selftrain_core.stages.base import RunInfo
from selftrain_core.stages.ingest import stage as ingest
from selftrain_core.stages.ingest.config import LocalFilesSource
from selftrain_core.stages.ingest.sources.local_files import read
from selftrain_core.store import ArtifactStore


def _jsonl(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_jsonl_rows_become_documents_with_stable_ids(tmp_path):
    path = _jsonl(
        tmp_path / "d.jsonl", [{"id": "a", "title": "A", "text": " alpha ", "category": "x"}, {"text": "beta"}]
    )
    docs = read(LocalFilesSource(path=str(path)))
    assert [d["text"] for d in docs] == ["alpha", "beta"]
    assert docs[0]["title"] == "A" and docs[0]["category"] == "x" and docs[1]["native_id"] == "line-2"
    assert docs[0]["source_revision"].startswith("sha256:")
    assert read(LocalFilesSource(path=str(path)))[0]["doc_id"] == docs[0]["doc_id"]


def test_bad_json_line_is_reported_with_its_number(tmp_path):
    path = _jsonl(tmp_path / "d.jsonl", [{"text": "ok"}, "{not json", {"text": "ok"}])
    with pytest.raises(SourceError, match=r"line 2: not valid JSON"):
        read(LocalFilesSource(path=str(path)))


def test_non_utf8_file_is_named(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("caf\xe9 au lait".encode("latin-1"))
    with pytest.raises(SourceError, match=r"latin.txt is not valid UTF-8"):
        read(LocalFilesSource(path=str(tmp_path)))


def test_document_with_no_text_is_named(tmp_path):
    path = _jsonl(tmp_path / "d.jsonl", [{"id": "a", "text": "fine"}, {"id": "empty-one", "text": "   "}])
    with pytest.raises(SourceError, match="'empty-one'.*has no text"):
        read(LocalFilesSource(path=str(path)))


def test_missing_text_field_and_missing_path(tmp_path):
    path = _jsonl(tmp_path / "d.jsonl", [{"body": "x"}])
    with pytest.raises(SourceError, match="no 'text' field"):
        read(LocalFilesSource(path=str(path)))
    with pytest.raises(SourceError, match="does not exist"):
        read(LocalFilesSource(path=str(tmp_path / "nope")))


def test_parquet_and_text_folder(tmp_path):
    pq.write_table(pa.Table.from_pylist([{"id": "p1", "title": "P", "text": "from parquet"}]), tmp_path / "a.parquet")
    (tmp_path / "notes.md").write_text("# Notes\nfrom markdown", encoding="utf-8")
    docs = read(LocalFilesSource(path=str(tmp_path)))
    assert {d["text"] for d in docs} == {"from parquet", "# Notes\nfrom markdown"}
    assert read(LocalFilesSource(path=str(tmp_path), max_documents=1))[0]["title"] == "P"


def _ingest(tmp_path, source_path):
    cfg = RunConfig(artifact_root=str(tmp_path / "art"), ingest={"source": {"kind": "local", "path": str(source_path)}})
    store = ArtifactStore(cfg.artifact_root)
    plan = ingest.plan(cfg)
    return store, plan, lambda: ingest.run(cfg, plan, store, RunInfo(), log=lambda _: None)


def test_empty_corpus_fails_and_leaves_no_artifact(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    store, plan, run = _ingest(tmp_path, path)
    with pytest.raises(SourceError, match="corpus is empty"):
        run()
    assert store.list() == [] and not (tmp_path / "art" / "ingest" / plan.key).exists()


def test_bad_line_in_ingest_leaves_no_artifact(tmp_path):
    path = _jsonl(tmp_path / "d.jsonl", [{"text": "ok"}, "[1, 2"])
    store, plan, run = _ingest(tmp_path, path)
    with pytest.raises(SourceError, match="line 2"):
        run()
    assert not (tmp_path / "art" / "ingest" / plan.key).exists()


def test_split_is_by_document_and_stratified(tmp_path):
    rows = [{"id": f"{c}{i}", "text": f"text {c}{i}", "category": c} for c in "ab" for i in range(8)]
    store, plan, run = _ingest(tmp_path, _jsonl(tmp_path / "d.jsonl", rows))
    docs = store.read_rows(run())
    for category in "ab":
        splits = [d["split"] for d in docs if d["category"] == category]
        assert splits.count("test") == 2 and splits.count("train") == 6


def test_same_file_names_in_different_folders_stay_apart(tmp_path):
    for folder in ("2023", "2024"):
        (tmp_path / folder).mkdir()
        _jsonl(tmp_path / folder / "data.jsonl", [{"id": "a", "text": f"from {folder}", "category": 7}])
    docs = read(LocalFilesSource(path=str(tmp_path)))
    assert len({d["doc_id"] for d in docs}) == 2
    assert {d["source"] for d in docs} == {"local:2023/data.jsonl", "local:2024/data.jsonl"}
    assert {d["category"] for d in docs} == {"7"}


def test_same_named_text_files_in_different_folders_are_two_documents(tmp_path):
    for folder in ("2023", "2024"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "notes.md").write_text(f"Notes of {folder}.", encoding="utf-8")
    (tmp_path / "top.txt").write_text("At the top.", encoding="utf-8")
    docs = read(LocalFilesSource(path=str(tmp_path)))
    assert len({d["doc_id"] for d in docs}) == 3 and {d["title"] for d in docs} == {"notes", "top"}
    assert {d["source"] for d in docs} == {"local:2023/notes.md", "local:2024/notes.md", "local:top.txt"}


def test_a_list_category_is_refused(tmp_path):
    path = _jsonl(tmp_path / "d.jsonl", [{"text": "x", "category": ["a", "b"]}])
    with pytest.raises(SourceError, match="category must be a string"):
        read(LocalFilesSource(path=str(path)))


def test_corpus_too_small_to_hold_out_fails_at_ingest(tmp_path):
    rows = [{"id": c, "text": f"text {c}", "category": c} for c in "abc"]
    store, plan, run = _ingest(tmp_path, _jsonl(tmp_path / "d.jsonl", rows))
    with pytest.raises(SourceError, match="no document can be held out"):
        run()
    assert not (tmp_path / "art" / "ingest" / plan.key).exists()


def test_a_gold_column_gives_each_document_a_gold_item(tmp_path):
    rows = [
        {"id": "t", "title": "Tallinn", "text": "Tallinn ...", "category": "Geography", "desc": "Capital of Estonia"},
        {"id": "c", "title": "Curie", "text": "Marie Curie ...", "category": "People", "desc": "Physicist",
         "q": "Who discovered polonium?"},
        {"id": "n", "title": "None", "text": "No description here."},
    ]  # fmt: skip
    path = _jsonl(tmp_path / "d.jsonl", rows)
    docs = read(LocalFilesSource(path=str(path), gold_answer_field="desc", gold_question_field="q"))
    assert [(d["gold_question"], d["gold_answer"]) for d in docs] == [
        ("What is Tallinn?", "Capital of Estonia"),  # no question column value: the identity question
        ("Who discovered polonium?", "Physicist"),
        (None, None),
    ]
    assert read(LocalFilesSource(path=str(path)))[0]["gold_answer"] is None, "no gold column named: no gold item"
    bad = _jsonl(tmp_path / "bad.jsonl", [{"id": "x", "text": "t", "desc": 3}])
    with pytest.raises(SourceError, match="gold answer must be a string"):
        read(LocalFilesSource(path=str(bad), gold_answer_field="desc"))


def test_each_file_is_hashed_once_however_many_documents_it_holds(tmp_path, monkeypatch):
    from selftrain_core.stages.ingest.sources import local_files

    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"id": f"d{i}", "text": f"t {i}"}) + "\n" for i in range(50)))
    pq.write_table(pa.table({"id": [f"p{i}" for i in range(30)], "text": ["x"] * 30}), tmp_path / "b.parquet")
    (tmp_path / "c.txt").write_text("one text")
    hashed = []
    real = local_files.file_sha256
    monkeypatch.setattr(local_files, "file_sha256", lambda path: hashed.append(path) or real(path))
    docs = read(LocalFilesSource(path=str(tmp_path)))
    assert len(docs) == 81 and sorted(p.name for p in hashed) == ["a.jsonl", "b.parquet", "c.txt"]
    assert {d["source_revision"] for d in docs if d["source"] == "local:a.jsonl"} == {"sha256:" + real(hashed[0])}


def test_a_stable_split_keeps_every_documents_split_as_the_corpus_grows_and_a_stratified_one_may_not():
    ids = [f"d{i}" for i in range(400)]
    grown = {rule: [] for rule in ("stratified", "stable")}
    for rule in grown:
        before = ingest.assign_splits({"x": ids[:300]}, 0.25, seed=0, rule=rule)
        after = ingest.assign_splits({"x": ids}, 0.25, seed=0, rule=rule)
        grown[rule] = [d for d in before if before[d] != after[d]]
        if rule == "stable":
            assert 0.18 < list(after.values()).count("test") / len(after) < 0.32  # about test_fraction
    assert grown["stable"] == []
    assert grown["stratified"], "exact counts per category move documents across the split as the corpus grows"


def test_the_split_rule_enters_the_ingest_key_only_when_set(tmp_path):
    source = {"kind": "local", "path": str(_jsonl(tmp_path / "d.jsonl", [{"id": "a", "text": "alpha"}]))}
    default = ingest.plan(RunConfig(ingest={"source": source})).key
    assert ingest.plan(RunConfig(ingest={"source": source, "split_rule": "stratified"})).key == default
    assert ingest.plan(RunConfig(ingest={"source": source, "split_rule": "stable"})).key != default
