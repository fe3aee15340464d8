"""Durable writes (fsync of file and folder), a full disk for real (a file size limit in a child process), streamed
checksums, and one hash per file per run."""

import errno
import hashlib
import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest
from fsspec.implementations.local import LocalFileSystem

from selftrain_core.errors import StorageFullError
from selftrain_core.stages.base import RunInfo, execute, make_plan
from selftrain_core.store import ArtifactStore, ArtifactWriter

REPO = Path(__file__).resolve().parents[3]
LIMIT = 64 * 1024  # the child's file size limit (RLIMIT_FSIZE)

# Runs execute() under a file size limit: a write past it fails with EFBIG, as a full disk fails with ENOSPC.
CHILD = textwrap.dedent(
    """
    import json, os, resource, signal, sys
    import pyarrow as pa
    from selftrain_core.stages.base import RunInfo, execute, make_plan
    from selftrain_core.store import ArtifactStore

    root, limit, settings = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the process instead of failing the write
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    def compute(writer):
        for index, size in enumerate(settings["sizes"]):
            writer.write_shard("data", index, pa.table({"blob": [os.urandom(size)]}))

    try:
        execute(make_plan("demo", 1, settings), ArtifactStore(root), RunInfo(), compute, log=lambda _: None)
        print(json.dumps({"error": None}))
    except Exception as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc), "notes": getattr(exc, "__notes__", [])}))
    """
)


def _blob(size: int) -> pa.Table:
    return pa.table({"blob": [os.urandom(size)]})


def _run_limited(root: Path, settings: dict) -> dict:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), str(LIMIT), json.dumps(settings)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".tmp-" in p.name]


needs_rlimit = pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE and SIGXFSZ as on Linux")


@needs_rlimit
def test_a_full_disk_before_any_shard_leaves_nothing(tmp_path):
    root = tmp_path / "store"
    settings = {"sizes": [4 * LIMIT]}
    result = _run_limited(root, settings)
    folder = root / "demo" / make_plan("demo", 1, settings).key
    assert result["error"] == "StorageFullError", result
    assert str(folder) in result["message"] and "EFBIG" in result["message"] and "artifact_root" in result["message"]
    assert not folder.exists(), "nothing was finished: no partial artifact"
    assert _temp_files(root) == []


@needs_rlimit
def test_a_full_disk_after_a_finished_shard_keeps_it_and_the_rerun_resumes(tmp_path):
    root = tmp_path / "store"
    settings = {"sizes": [1024, 4 * LIMIT]}
    result = _run_limited(root, settings)
    plan = make_plan("demo", 1, settings)
    folder = root / "demo" / plan.key
    assert result["error"] == "StorageFullError" and "resumes" in " ".join(result["notes"]), result
    assert (folder / "data-00000.parquet").exists() and (folder / "_progress" / "data-00000.json").exists()
    assert not (folder / "data-00001.parquet").exists() and not (folder / "manifest.json").exists()
    assert _temp_files(root) == []

    computed = []

    def compute(writer):  # here, in the test's process, without the limit
        done = writer.done_shards("data")
        for index, size in enumerate(settings["sizes"]):
            if index not in done:
                computed.append(index)
                writer.write_shard("data", index, _blob(size))

    store = ArtifactStore(str(root))
    ref = execute(plan, store, RunInfo(), compute, log=lambda _: None)
    assert computed == [1], "only the shard the full disk refused is computed again"
    assert store.verify("demo", plan.key) == [] and store.read_table(ref).num_rows == 2
    assert _temp_files(root) == []


def test_no_space_at_fsync_is_a_clear_error_and_leaves_no_temp_file(tmp_path, monkeypatch):
    """Some filesystems (NFS, delayed allocation) report a full disk only when the data is flushed."""
    store = ArtifactStore(str(tmp_path))
    writer = ArtifactWriter(store, "demo", "k")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(StorageFullError, match="no space left on the device holding .*demo/k.*artifact_root"):
        writer.write_bytes("report.md", b"# report\n")
    assert _temp_files(tmp_path) == [] and not (tmp_path / "demo" / "k" / "report.md").exists()


def test_files_and_their_folders_are_fsynced(tmp_path, monkeypatch):
    synced: list[tuple[bool, int]] = []  # (is a folder, inode)
    real_fsync = os.fsync

    def recording(fd):
        st = os.fstat(fd)
        synced.append((stat.S_ISDIR(st.st_mode), st.st_ino))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)
    store = ArtifactStore(str(tmp_path))
    writer = ArtifactWriter(store, "demo", "k")
    writer.write_shard("data", 0, _blob(10))
    with writer.local_dir("adapter") as local:
        Path(local, "weights.bin").write_bytes(b"w" * 100)
    writer.commit({})
    base = tmp_path / "demo" / "k"
    for name in ("data-00000.parquet", "adapter/weights.bin", "manifest.json"):
        # a rename keeps the inode: the fsync'ed temporary file is the file now in place
        assert (False, (base / name).stat().st_ino) in synced, name
    for folder in (base, base / "adapter", tmp_path / "demo"):
        assert (True, folder.stat().st_ino) in synced, folder
    assert store.verify("demo", "k") == []


def test_verify_streams_a_file_larger_than_one_block(tmp_path, monkeypatch):
    store = ArtifactStore(str(tmp_path))
    writer = ArtifactWriter(store, "demo", "k")
    data = os.urandom((5 << 20) // 2 + 7)  # 2.5 MiB and a bit: three blocks of 1 MiB, the last one short
    writer.write_bytes("blob.bin", data)
    writer.commit({})
    real_cat_file = store.fs.cat_file

    def no_whole_files(path, *args, **kwargs):
        assert path.endswith(".json"), f"{path} was read whole into memory"
        return real_cat_file(path, *args, **kwargs)

    monkeypatch.setattr(store.fs, "cat_file", no_whole_files)
    assert store.verify("demo", "k") == []
    assert store.file_sha256(f"{store.dir('demo', 'k')}/blob.bin") == hashlib.sha256(data).hexdigest()
    assert store.manifest("demo", "k")["files"]["blob.bin"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_an_artifact_is_hashed_once_per_run_unless_it_changes(tmp_path, monkeypatch):
    plan = make_plan("demo", 1, {"a": 1})
    execute(plan, ArtifactStore(str(tmp_path)), RunInfo(), lambda w: w.write_table("data", _blob(3000)), lambda _: None)
    opened: list[str] = []
    real_open = LocalFileSystem._open

    def counting(self, path, *args, **kwargs):
        if str(path).endswith(".parquet"):
            opened.append(str(path))
        return real_open(self, path, *args, **kwargs)

    monkeypatch.setattr(LocalFileSystem, "_open", counting)

    def never(writer):
        raise AssertionError("a cache hit computes nothing")

    # the flow checks the artifact, then the stage task does: two stores, one process, one read of the bytes
    flow_store, task_store = ArtifactStore(str(tmp_path)), ArtifactStore(str(tmp_path))
    assert flow_store.is_complete("demo", plan.key) and flow_store.verify("demo", plan.key) == []
    execute(plan, task_store, RunInfo(), never, log=lambda _: None)
    assert task_store.verify("demo", plan.key) == []
    assert len(opened) == 1, opened

    shard = tmp_path / "demo" / plan.key / "data-00000.parquet"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))  # same size; a newer modification time, even on a coarse filesystem clock
    before = shard.stat()
    os.utime(shard, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    assert task_store.verify("demo", plan.key) == ["data-00000.parquet"], "a changed file is hashed again"
    assert len(opened) == 2
