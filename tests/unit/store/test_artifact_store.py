import json

import pyarrow as pa
import pytest

from selftrain_core.errors import CorruptArtifactError, SelftrainError, StageInputError
from selftrain_core.stages.base import RunInfo, execute, make_plan
from selftrain_core.store import ArtifactStore, ArtifactWriter


def _table(n: int, offset: int = 0) -> pa.Table:
    return pa.Table.from_pylist([{"id": f"row-{i}", "value": float(i)} for i in range(offset, offset + n)])


def test_manifest_is_written_last_and_lists_checksums(tmp_path):
    store = ArtifactStore(str(tmp_path))
    writer = ArtifactWriter(store, "demo", "k1")
    writer.write_shard("data", 0, _table(3))
    writer.write_shard("data", 1, _table(2, 3))
    assert not store.has_manifest("demo", "k1"), "no manifest before commit: work in progress, not an artifact"
    assert not store.is_complete("demo", "k1")
    ref = writer.commit({"note": "x"})
    manifest = store.manifest("demo", "k1")
    assert ref.key == "k1" and manifest["row_counts"] == {"data": 5}
    assert manifest["tables"]["data"] == ["data-00000.parquet", "data-00001.parquet"]
    assert set(manifest["files"]) == {"data-00000.parquet", "data-00001.parquet"}
    assert store.read_table(ref).column("id").to_pylist() == [f"row-{i}" for i in range(5)]
    assert store.verify("demo", "k1") == []
    assert not (tmp_path / "demo" / "k1" / "_progress").exists()


def test_corrupt_shard_is_detected(tmp_path):
    store = ArtifactStore(str(tmp_path))
    writer = ArtifactWriter(store, "demo", "k")
    writer.write_table("data", _table(4))
    ref = writer.commit({})
    shard = tmp_path / "demo" / "k" / "data-00000.parquet"
    data = bytearray(shard.read_bytes())
    data[-20] ^= 0xFF
    shard.write_bytes(bytes(data))
    assert store.verify("demo", "k") == ["data-00000.parquet"]
    with pytest.raises(CorruptArtifactError, match="checksum"):
        store.read_table(ref)


def test_missing_file_makes_artifact_incomplete(tmp_path):
    store = ArtifactStore(str(tmp_path))
    writer = ArtifactWriter(store, "demo", "k")
    writer.write_table("data", _table(1))
    writer.commit({})
    assert store.is_complete("demo", "k")
    (tmp_path / "demo" / "k" / "data-00000.parquet").unlink()
    assert not store.is_complete("demo", "k")


def test_finished_shards_survive_a_crash_and_are_verified(tmp_path):
    store = ArtifactStore(str(tmp_path))
    first = ArtifactWriter(store, "demo", "k")
    first.write_shard("data", 0, _table(2))
    first.write_shard("data", 1, _table(2, 2))
    # crash here: no commit. A second attempt sees both shards...
    again = ArtifactWriter(store, "demo", "k")
    assert sorted(again.done_shards("data")) == [0, 1]
    # ...but not one whose bytes were damaged.
    (tmp_path / "demo" / "k" / "data-00001.parquet").write_bytes(b"garbage")
    assert sorted(again.done_shards("data")) == [0]


def test_a_write_cut_short_leaves_no_temporary_file_in_the_committed_artifact(tmp_path):
    store = ArtifactStore(str(tmp_path))
    writer = ArtifactWriter(store, "demo", "k")
    writer.write_shard("data", 0, _table(2))
    (tmp_path / "demo" / "k" / ".tmp-0123abcd").write_bytes(b"half a shard")  # its writer was killed mid-write
    writer.commit({})
    assert sorted(p.name for p in (tmp_path / "demo" / "k").iterdir()) == ["data-00000.parquet", "manifest.json"]
    assert store.verify("demo", "k") == []


def test_execute_caches_and_removes_partial_output_on_user_error(tmp_path):
    store = ArtifactStore(str(tmp_path))
    plan = make_plan("demo", 1, {"a": 1})
    calls = []

    def compute(writer):
        calls.append(1)
        writer.write_table("data", _table(2))
        return {"drops": {"x": 1}}

    ref = execute(plan, store, RunInfo(run_id="r1"), compute, log=lambda _: None)
    again = execute(plan, store, RunInfo(run_id="r2"), compute, log=lambda _: None)
    assert ref == again and len(calls) == 1, "second call is a cache hit"
    manifest = store.manifest("demo", plan.key)
    assert manifest["run"]["run_id"] == "r1" and manifest["drops"] == {"x": 1}
    assert manifest["config"] == {"a": 1} and "packages" in manifest

    bad_plan = make_plan("demo", 1, {"a": 2})

    def failing(writer):
        raise StageInputError("nothing to do")

    with pytest.raises(SelftrainError):
        execute(bad_plan, store, RunInfo(), failing, log=lambda _: None)
    assert not (tmp_path / "demo" / bad_plan.key).exists(), "a mistake found before any work leaves nothing"


def test_an_error_after_finished_shards_keeps_them_and_the_rerun_resumes(tmp_path):
    """A worker that dies mid-stage raises a SelftrainError too (VLLMWorkerError, a refused request): the shards
    finished before it are work a rerun must not redo."""
    store = ArtifactStore(str(tmp_path))
    plan = make_plan("demo", 1, {"a": 3})
    computed: list[int] = []

    def shards(fail_at: int | None):
        def compute(writer):
            done = writer.done_shards("data")
            for index in range(3):
                if index in done:
                    continue
                if index == fail_at:
                    raise StageInputError("vLLM worker: killed")
                computed.append(index)
                writer.write_shard("data", index, _table(2))

        return compute

    logs: list[str] = []
    with pytest.raises(StageInputError) as failed:
        execute(plan, store, RunInfo(), shards(fail_at=2), log=logs.append)
    assert "the same command resumes" in " ".join(failed.value.__notes__) and any("kept" in m for m in logs)
    assert not store.is_complete("demo", plan.key) and (tmp_path / "demo" / plan.key / "data-00001.parquet").exists()
    ref = execute(plan, store, RunInfo(), shards(fail_at=None), log=lambda _: None)
    assert computed == [0, 1, 2], "the rerun computed only the shard that was lost"
    assert store.read_table(ref, "data").num_rows == 6 and store.verify("demo", plan.key) == []


def test_corrupt_artifact_is_recomputed(tmp_path):
    store = ArtifactStore(str(tmp_path))
    plan = make_plan("demo", 1, {"a": 1})
    calls = []

    def compute(writer):
        calls.append(1)
        writer.write_table("data", _table(2))

    execute(plan, store, RunInfo(), compute, log=lambda _: None)
    shard = tmp_path / "demo" / plan.key / "data-00000.parquet"
    shard.write_bytes(shard.read_bytes()[:-1] + b"\x00")
    execute(plan, store, RunInfo(), compute, log=lambda _: None)
    assert len(calls) == 2 and store.verify("demo", plan.key) == []


def test_plan_key_depends_on_settings_parents_models_and_prompts(tmp_path):
    store = ArtifactStore(str(tmp_path))
    parent = store.ref("up", "abc")
    base = make_plan(
        "s", 1, {"x": 1}, [parent], [{"role": "m", "fingerprint": "f1"}], [{"prompt_id": "p", "sha256": "h"}]
    )
    same = make_plan(
        "s",
        1,
        {"x": 1},
        [parent],
        [{"role": "m", "fingerprint": "f1"}],
        [{"prompt_id": "p", "sha256": "h"}],
        runtime={"batch_size": 99},
    )
    assert base.key == same.key, "runtime settings do not change the key"
    variants = [
        make_plan("s", 2, {"x": 1}, [parent], base.models, base.prompts),
        make_plan("s", 1, {"x": 2}, [parent], base.models, base.prompts),
        make_plan("s", 1, {"x": 1}, [store.ref("up", "abd")], base.models, base.prompts),
        make_plan("s", 1, {"x": 1}, [parent], [{"role": "m", "fingerprint": "f2"}], base.prompts),
        make_plan("s", 1, {"x": 1}, [parent], base.models, [{"prompt_id": "p", "sha256": "h2"}]),
    ]
    assert len({v.key for v in variants} | {base.key}) == 6
    assert json.loads(base.model_dump_json())["key"] == base.key


def test_a_read_decodes_only_the_columns_asked_for_by_name_or_predicate(tmp_path):
    import pyarrow as pa

    from selftrain_core.stages.answers.stage import text_column
    from selftrain_core.store import ArtifactStore, ArtifactWriter

    store = ArtifactStore(str(tmp_path))
    writer = ArtifactWriter(store, "answers", "k")
    for index in range(2):
        rows = [{"answer_id": f"a{index}", "no_doc": ["x"], "no_doc_logprobs": [[-0.5]]}]
        writer.write_shard("data", index, pa.Table.from_pylist(rows))
    ref = writer.commit({})
    assert store.read_rows(ref, columns=text_column) == [{"answer_id": "a0", "no_doc": ["x"]},
                                                          {"answer_id": "a1", "no_doc": ["x"]}]  # fmt: skip
    assert store.read_table(ref, columns=["answer_id"]).column_names == ["answer_id"]
