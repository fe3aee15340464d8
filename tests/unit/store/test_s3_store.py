"""The artifact store on a real S3-compatible server (moto's server mode, its own process): finished objects are
PUT in place (no temporary object, no copy) with the manifest last, checksums are streamed, a crashed stage resumes
from its shards in the bucket, adapters come back verified, and the lease lock makes two processes compute an
artifact once. No object holds the secret key."""

from __future__ import annotations

import json
import socket
import time

import pyarrow as pa
import pytest
import s3fs

from selftrain_core.config.loading import load_run_config
from selftrain_core.errors import ConfigError, CorruptArtifactError
from selftrain_core.runs.storage import check_artifact_root_reachable
from selftrain_core.stages.base import RunInfo, execute, make_plan
from selftrain_core.store import ArtifactStore
from selftrain_core.store.download import download_folder, local_folder
from selftrain_core.store.lock import ArtifactLockTimeout, artifact_lock, lock_path
from tests.s3_server import SECRET, bucket_texts, s3fs_fresh
from tests.unit.store.test_artifact_lock import SPAWN, _events, _execute, _hold_until_killed, _start, _until
from tests.unit.store.test_artifact_lock import _wait_then_hold as wait_then_hold

BIG = 3 * (1 << 20) + 7  # an adapter file larger than one 1 MiB hashing block


def _compute(shards: int = 3, fail_after: int | None = None):
    def compute(writer):
        done = writer.done_shards("data")
        for index in range(shards):
            if index in done:
                continue
            if index == fail_after:
                raise RuntimeError("worker died")
            writer.write_shard("data", index, pa.table({"x": list(range(index * 10, index * 10 + 10))}))
        with writer.local_dir("adapter") as folder:
            with open(f"{folder}/adapter_model.safetensors", "wb") as handle:
                handle.write(bytes(range(256)) * (BIG // 256) + b"x" * (BIG % 256))
            with open(f"{folder}/adapter_config.json", "w") as handle:
                json.dump({"r": 4}, handle)
        return {"resumed_shards": len(done)}

    return compute


def test_objects_are_put_in_place_with_the_manifest_last_and_read_back(s3_root, monkeypatch):
    written: list[str] = []
    pipe, put = s3fs.S3FileSystem._pipe_file, s3fs.S3FileSystem._put_file

    async def recording_pipe(self, path, *args, **kwargs):
        written.append(path)
        return await pipe(self, path, *args, **kwargs)

    async def recording_put(self, lpath, rpath, *args, **kwargs):
        written.append(rpath)
        return await put(self, lpath, rpath, *args, **kwargs)

    async def no_copy(self, *args, **kwargs):
        raise AssertionError("an object store needs no copy: a PUT is atomic")

    monkeypatch.setattr(s3fs.S3FileSystem, "_pipe_file", recording_pipe)
    monkeypatch.setattr(s3fs.S3FileSystem, "_put_file", recording_put)
    monkeypatch.setattr(s3fs.S3FileSystem, "_copy_object", no_copy, raising=False)
    monkeypatch.setattr(s3fs.S3FileSystem, "_cp_file", no_copy)
    store, plan = ArtifactStore(s3_root), make_plan("demo", 1, {"a": 1})
    ref = execute(plan, store, RunInfo(run_id="r"), _compute(), log=lambda _: None)
    assert ref.uri == f"{s3_root}/demo/{plan.key}"
    ours = [p for p in written if f"/demo/{plan.key}/" in p]
    assert ours[-1].endswith("/manifest.json") and not any(".tmp-" in p for p in written)
    assert store.verify("demo", plan.key) == [] and store.is_complete("demo", plan.key)
    assert store.read_table(ref).column("x").to_pylist() == list(range(30))
    assert [m["key"] for m in store.list("demo")] == [plan.key]
    objects = bucket_texts(s3_root)
    assert not any("/_progress/" in p or ".tmp-" in p for p in objects), "markers removed after the manifest"
    assert not any(SECRET.encode() in body for body in objects.values()), "no object holds the secret key"


def test_a_crashed_stage_resumes_from_its_shards_in_the_bucket(s3_root):
    store, plan = ArtifactStore(s3_root), make_plan("demo", 1, {"a": 2})
    with pytest.raises(RuntimeError, match="worker died"):
        execute(plan, store, RunInfo(), _compute(fail_after=2), log=lambda _: None)
    assert not store.has_manifest("demo", plan.key)
    ref = execute(plan, store, RunInfo(), _compute(), log=lambda _: None)
    assert store.manifest("demo", ref.key)["resumed_shards"] == 2
    assert store.read_table(ref).column("x").to_pylist() == list(range(30))


def test_a_changed_object_is_found_and_the_artifact_recomputed(s3_root):
    store, plan, lines = ArtifactStore(s3_root), make_plan("demo", 1, {"a": 3}), []
    ref = execute(plan, store, RunInfo(), _compute(), log=lambda _: None)
    shard = f"{store.dir('demo', ref.key)}/data-00001.parquet"
    data = store.fs.cat_file(shard)
    store.fs.pipe_file(shard, data[:-9] + bytes(b ^ 1 for b in data[-9:]))  # same size: only the checksum tells
    assert store.verify("demo", ref.key) == ["data-00001.parquet"]
    execute(plan, store, RunInfo(), _compute(), log=lines.append)
    assert any("corrupt files" in line for line in lines) and store.verify("demo", ref.key) == []


def test_checksums_and_downloads_stream_in_blocks(s3_root, monkeypatch):
    store, plan = ArtifactStore(s3_root), make_plan("demo", 1, {"a": 4})
    ref = execute(plan, store, RunInfo(), _compute(), log=lambda _: None)
    sizes: list[int] = []
    read = s3fs.core.S3File.read

    def recording_read(self, length=-1):
        if not self.path.endswith("/manifest.json"):  # a manifest is parsed whole; data files are streamed
            sizes.append(length)
        return read(self, length)

    def whole_file(*args, **kwargs):
        raise AssertionError("a whole file read into memory")

    with monkeypatch.context() as patched:
        patched.setattr(s3fs.core.S3File, "read", recording_read)
        patched.setattr(s3fs.S3FileSystem, "cat_file", whole_file)
        patched.setattr("selftrain_core.store.digests._DIGESTS", {})
        assert store.verify("demo", ref.key) == []
        folder = local_folder(store, ref, "adapter")
    assert sizes and all(0 < n <= 1 << 20 for n in sizes), sizes
    with open(f"{folder}/adapter_model.safetensors", "rb") as handle:
        assert len(handle.read()) == BIG
    monkeypatch.setattr("selftrain_core.store.download.download_folder", whole_file)
    assert local_folder(store, ref, "adapter") == folder, "a verified download is reused"


def test_a_corrupt_adapter_is_never_handed_to_the_loader(s3_root, tmp_path):
    store, plan = ArtifactStore(s3_root), make_plan("demo", 1, {"a": 5})
    ref = execute(plan, store, RunInfo(), _compute(), log=lambda _: None)
    store.fs.pipe_file(f"{store.dir('demo', ref.key)}/adapter/adapter_config.json", b'{"r": 64}')
    with pytest.raises(CorruptArtifactError, match="adapter_config.json does not match its checksum"):
        download_folder(store, ref, "adapter", tmp_path / "adapter")
    assert not (tmp_path / "adapter").exists() and list(tmp_path.iterdir()) == []


def test_processes_asking_for_one_artifact_on_s3_compute_it_once(s3_root, tmp_path):
    markers, barrier = tmp_path / "markers", SPAWN.Barrier(3)
    procs = [_start(_execute, s3_root, str(markers), barrier) for _ in range(3)]  # children inherit the AWS env
    for proc in procs:
        proc.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert [e for _, e, _ in _events(markers)].count("compute") == 1
    assert ArtifactStore(s3_root).verify("demo", make_plan("demo", 1, {"a": 1}).key) == []


def test_a_holder_killed_with_sigkill_is_taken_over_at_once_on_its_machine(s3_root, tmp_path):
    markers = tmp_path / "markers"
    holder = _start(_hold_until_killed, s3_root, str(markers))
    _until(lambda: markers.exists() and "holding" in markers.read_text())
    waiter = _start(wait_then_hold, s3_root, str(markers))
    _until(lambda: "waiting" in markers.read_text())
    assert f"pid {holder.pid} on {socket.gethostname()}" in (tmp_path / "markers.log").read_text()
    killed_at = time.time()
    holder.kill()
    holder.join(30)
    waiter.join(60)
    assert waiter.exitcode == 0
    got = next(at for _, e, at in _events(markers) if e == "got")
    assert got - killed_at < 10, "a dead process of this machine holds no lease"


def _foreign_lease(store: ArtifactStore, key: str) -> None:
    """Lease 0 of `demo/key`, as a run on another machine writes it (its pid means nothing here)."""
    lease = {"pid": 1, "host": "other-host", "node": "other-host/pid:[1]", "stage": "demo", "key": key}
    store.fs.pipe_file(f"{lock_path(store, 'demo', key)}/00000000.json", json.dumps(lease).encode())


def test_a_lease_not_renewed_for_lease_s_is_taken_over_and_a_renewed_one_never(s3_root):
    store, lines = ArtifactStore(s3_root), []
    _foreign_lease(store, "k")
    started = time.monotonic()
    with artifact_lock(store, "demo", "k", log=lines.append, poll_s=0.05, lease_s=1.5):
        waited = time.monotonic() - started
    assert 1.5 <= waited < 10, waited
    assert "pid 1 on other-host" in lines[0]
    with (
        # renewed every 1 s: a loaded machine's pauses stay well inside the 4 s lease, so it is never taken over
        artifact_lock(store, "demo", "live", log=lambda _: None, lease_s=4.0),
        pytest.raises(ArtifactLockTimeout, match=r"pid \d+ on .*lease expires 4 s after its last renewal"),
        artifact_lock(store, "demo", "live", log=lambda _: None, poll_s=0.2, timeout_s=9.0, lease_s=4.0),
    ):
        pass


def test_an_unreachable_store_or_missing_bucket_is_named_before_any_work(s3_root, monkeypatch):
    check_artifact_root_reachable(ArtifactStore(s3_root))  # reachable, and nothing written yet: fine
    missing = s3_root.replace("selftrain-", "no-such-bucket-")
    with pytest.raises(ConfigError, match="the bucket 'no-such-bucket-.*' does not exist"):
        check_artifact_root_reachable(ArtifactStore(missing))
    with pytest.raises(ConfigError, match="the bucket 'no-such-bucket' does not exist"):
        check_artifact_root_reachable(ArtifactStore("s3://no-such-bucket"))  # the root is the bucket itself
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    s3fs_fresh()
    with pytest.raises(ConfigError, match="cannot be reached .*AWS_ACCESS_KEY_ID") as error:
        check_artifact_root_reachable(ArtifactStore(s3_root))
    assert SECRET not in str(error.value)


@pytest.mark.parametrize(
    ("root", "message"),
    [
        (f"s3://AKIAEXAMPLE:{SECRET}@bucket/prefix", "carries a credential"),
        ("s3://bucket/prefix?X-Amz-Signature=abc", "carries a credential"),
        ("s4://bucket/prefix", "unknown protocol 's4://'"),
        ("s3:///prefix", r"name the bucket: s3://<bucket>/<prefix>"),
    ],
)
def test_a_root_that_cannot_work_is_refused_when_the_config_loads(root, message):
    with pytest.raises(ConfigError, match=message) as error:
        load_run_config(None, [f"artifact_root={root}"])
    assert "artifact_root" in str(error.value) and SECRET not in str(error.value)
