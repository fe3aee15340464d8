"""BackendShards with rows reused from earlier artifacts (stages/reuse.py): shards whose items were all computed before
are copied without a model; the new items of the others reach the backend together; rows keep the canonical order."""

from types import SimpleNamespace

import pyarrow as pa
import pytest

from selftrain_core.backends.usage import Usage
from selftrain_core.stages import shards as shards_module
from selftrain_core.stages.base import make_plan
from selftrain_core.stages.reuse import find_reusable
from selftrain_core.stages.shards import REUSED, BackendShards, merged_rows
from selftrain_core.store import ArtifactStore, ArtifactWriter

SCHEMA = pa.schema([("item_id", pa.string()), ("value", pa.string())])
LOCAL = SimpleNamespace(executor=None, backend="hf")


@pytest.fixture
def opened(monkeypatch):
    calls = []

    def open_backend(settings, model, progress):
        calls.append("open")
        return SimpleNamespace(usage=Usage(requests=1), close=lambda: calls.append("close"))

    monkeypatch.setattr(shards_module, "open_backend", open_backend)
    return calls


def items(n: int) -> list[dict]:
    return [{"item_id": f"i{k}"} for k in range(n)]


def computed(batches: list[list[str]]):
    def shard_rows(backend, shard):
        batches.append([item["item_id"] for item in shard])
        return [{"item_id": item["item_id"], "value": "new"} for item in shard]

    return shard_rows


def test_only_new_items_reach_the_backend_together_and_rows_keep_their_order(tmp_path, opened):
    writer = ArtifactWriter(ArtifactStore(str(tmp_path)), "answers", "k")
    reused = {f"i{k}": {"item_id": f"i{k}", "value": "old"} for k in range(10) if k not in (4, 8)}
    shards = BackendShards(writer, "data", items(10), 3, "item_id", "answers", lambda _: None, reused)
    batches: list[list[str]] = []
    shards.generate(LOCAL, None, computed(batches), SCHEMA, None, "request")
    assert batches == [["i4", "i8"]], "shards 1 and 2 hold one new item each: one call for both"
    assert opened == ["open", "close"]
    rows = shards.written_rows()
    assert [r["item_id"] for r in rows] == [f"i{k}" for k in range(10)]
    assert [r["value"] for r in rows] == ["new" if k in (4, 8) else "old" for k in range(10)]


def test_a_stage_whose_items_were_all_computed_before_opens_no_backend(tmp_path, opened):
    writer = ArtifactWriter(ArtifactStore(str(tmp_path)), "answers", "k")
    reused = {f"i{k}": {"item_id": f"i{k}", "value": "old"} for k in range(5)}
    shards = BackendShards(writer, "data", items(5), 2, "item_id", "answers", lambda _: None, reused)
    batches: list[list[str]] = []
    assert shards.generate(LOCAL, None, computed(batches), SCHEMA, None, "request") is None
    assert batches == [] and opened == []
    assert len(writer.done_shards("data")) == 3


def test_without_reuse_each_shard_is_one_backend_call(tmp_path, opened):
    writer = ArtifactWriter(ArtifactStore(str(tmp_path)), "answers", "k")
    shards = BackendShards(writer, "data", items(5), 2, "item_id", "answers", lambda _: None)
    batches: list[list[str]] = []
    shards.generate(LOCAL, None, computed(batches), SCHEMA, None, "request")
    assert batches == [["i0", "i1"], ["i2", "i3"], ["i4"]]


def test_a_ray_actor_computes_only_the_items_that_carry_no_reused_row():
    batches: list[list[str]] = []
    rows = merged_rows(computed(batches))(None, [{"item_id": "a", REUSED: {"item_id": "a", "value": "old"}},
                                                 {"item_id": "b"}])  # fmt: skip
    assert batches == [["b"]] and [r["value"] for r in rows] == ["old", "new"]


def earlier(store: ArtifactStore, key: str, work_key: str, ids: list[str]) -> None:
    writer = ArtifactWriter(store, "answers", key)
    rows = [{"item_id": i, "value": key} for i in ids]
    writer.write_table("data", pa.Table.from_pylist(rows, schema=SCHEMA))
    writer.commit({"work_key": work_key})


def test_rows_come_only_from_intact_artifacts_with_the_same_work_key(tmp_path):
    store = ArtifactStore(str(tmp_path))
    plan = make_plan("answers", 1, {"n": 5})
    earlier(store, "other-settings", make_plan("answers", 1, {"n": 6}).work_key, ["a", "b"])
    earlier(store, "corrupt", plan.work_key, ["a"])
    earlier(store, "good", plan.work_key, ["a", "b", "c"])
    shard = next(p for p in (tmp_path / "answers" / "corrupt").rglob("*.parquet"))
    shard.write_bytes(shard.read_bytes()[:-8] + b"garbage!")
    found = find_reusable(store, plan, "data", "item_id", ["a", "b", "z"], say=lambda _: None)
    assert {i: r["value"] for i, r in found.rows.items()} == {"a": "good", "b": "good"}
    assert found.sources == ["good"]
    assert found.record(1) == {"reuse": {"reused_rows": 2, "computed_rows": 1, "reused_from": ["good"]}}
    assert find_reusable(store, plan, "data", "item_id", ["a"], enabled=False).rows == {}


def test_reused_rows_are_found_by_id_and_read_a_source_shard_at_a_time(tmp_path, monkeypatch):
    """Memory holds the reused ids and at most two source shards, not every reused row (answers' carry logprobs)."""
    store = ArtifactStore(str(tmp_path))
    plan = make_plan("answers", 1, {"n": 5})
    writer = ArtifactWriter(store, "answers", "week1")
    for index in range(4):
        rows = [{"item_id": f"{index}-{j}", "value": f"v{index}-{j}"} for j in range(3)]
        writer.write_shard("data", index, pa.Table.from_pylist(rows, schema=SCHEMA))
    writer.commit({"work_key": plan.work_key})
    reads: list[int] = []
    read_shard = ArtifactStore.read_shard

    def counted(self, ref, table, index, columns=None):
        reads.append(index)
        return read_shard(self, ref, table, index, columns)

    monkeypatch.setattr(ArtifactStore, "read_shard", counted)
    wanted = [f"{i}-{j}" for i in range(4) for j in range(3)]
    found = find_reusable(store, plan, "data", "item_id", wanted, say=lambda _: None, extra=lambda i: {"split": "x"})
    assert len(found.rows) == 12 and "3-2" in found.rows and reads == [], "found from the id column alone"
    assert [found.rows[i]["value"] for i in wanted] == [f"v{i}" for i in wanted]
    assert reads == [0, 1, 2, 3], "each source shard read once, when its rows are asked for"
    assert len(found.rows._shards) == 2, "the last two source shards kept"
    assert found.rows["0-0"] == {"item_id": "0-0", "value": "v0-0", "split": "x"}, "extra fields replace stored ones"
    assert reads[-1] == 0
