"""Writing one artifact: atomic shard writes with completion markers, other files, and the manifest last.

A long stage writes its table in shards. Each shard is written to a temporary name and renamed, then a small
marker (`_progress/<table>-<index>.json`, holding the shard's sha256) records it as done. A restarted stage asks
`done_shards()` and skips verified ones, so a crash loses at most the shard in flight. `commit()` writes
`manifest.json` last; `abort()` removes the folder so a user error leaves nothing behind.

On a local disk every file is flushed and fsync'ed before its rename, and its folder after, so a power cut never
leaves a manifest or marker pointing at bytes that did not reach the disk. A full disk (or a file size limit) raises
StorageFullError naming the folder, and leaves no temporary file behind.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from selftrain_core.errors import StorageFullError
from selftrain_core.hashing import bytes_sha256, file_sha256
from selftrain_core.store.artifact_store import MANIFEST, MANIFEST_FORMAT, ArtifactRef, ArtifactStore
from selftrain_core.store.objects import is_object_store

PROGRESS = "_progress"
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def fsync_dir(path: str) -> None:
    """Make a folder's entries (a rename into it) durable: POSIX needs the folder itself fsync'ed."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def table_to_parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


class ArtifactWriter:
    def __init__(self, store: ArtifactStore, stage: str, key: str):
        self.store, self.stage, self.key = store, stage, key
        self.base = store.dir(stage, key)
        self.fs = store.fs
        self._files: dict[str, dict[str, Any]] = {}
        self._schemas: dict[str, str] = {}
        if not is_object_store(self.fs):  # an object store has no folders (and s3fs would make a missing bucket)
            self.fs.makedirs(self.base, exist_ok=True)

    # --- low level -----------------------------------------------------------------------------------
    def _atomic_write(self, rel: str, data: bytes) -> None:
        self._place(rel, lambda handle: handle.write(data), lambda tmp: self.fs.pipe_file(tmp, data))

    def _atomic_put(self, rel: str, local: str) -> None:
        def copy(handle: BinaryIO) -> None:
            with open(local, "rb") as source:
                shutil.copyfileobj(source, handle, 1 << 20)

        self._place(rel, copy, lambda tmp: self.fs.put_file(local, tmp))

    def _place(self, rel: str, fill: Callable[[BinaryIO], Any], upload: Callable[[str], Any]) -> None:
        """Write `rel` so that readers never see half a file.

        Locally `fill` writes a temporary file, which is fsync'ed, renamed into place, and its folder fsync'ed.
        On an object store `upload` writes the final name at once: a PUT appears whole or not at all, and there
        is no rename (a "move" is a copy and a delete). Elsewhere `upload` writes a temporary name that fsspec moves.
        """
        final = f"{self.base}/{rel}"
        if is_object_store(self.fs):
            upload(final)
            return
        parent = final.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        try:
            if isinstance(self.fs, LocalFileSystem):
                with open(tmp, "wb") as handle:
                    fill(handle)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, final)
                fsync_dir(parent)
            else:
                upload(tmp)
                self.fs.mv(tmp, final)
        except OSError as exc:
            with suppress(OSError):
                self.fs.rm(tmp)
            if exc.errno in _FULL:
                raise StorageFullError(self._full_message(rel, exc)) from exc
            raise

    def _full_message(self, rel: str, exc: OSError) -> str:
        reason = f"{errno.errorcode.get(exc.errno, exc.errno)}: {exc.strerror or os.strerror(exc.errno)}"
        if exc.errno == errno.EFBIG:
            return (
                f"cannot write {rel} in {self.base} ({reason}): the file is larger than this process's file size "
                "limit (ulimit -f) or the filesystem allows; raise the limit or set artifact_root elsewhere"
            )
        return (
            f"no space left on the device holding {self.base} ({reason}) while writing {rel}: free space or set "
            "artifact_root elsewhere"
        )

    def write_bytes(self, rel: str, data: bytes) -> None:
        self._atomic_write(rel, data)
        self._files[rel] = {"sha256": bytes_sha256(data), "bytes": len(data)}

    # --- shards --------------------------------------------------------------------------------------
    @staticmethod
    def shard_name(table: str, index: int) -> str:
        return f"{table}-{index:05d}.parquet"

    def done_shards(self, table: str) -> dict[int, dict[str, Any]]:
        """Shards of `table` finished by an earlier attempt whose bytes still match their marker."""
        done = {}
        folder = f"{self.base}/{PROGRESS}"
        if not self.fs.exists(folder):
            return done
        for path in sorted(self.fs.ls(folder, detail=False)):
            name = path.rsplit("/", 1)[-1]
            if not (name.startswith(f"{table}-") and name.endswith(".json")):  # also skips .tmp- files
                continue
            marker = json.loads(self.fs.cat_file(path))
            try:
                intact = self.store.file_sha256(f"{self.base}/{marker['file']}") == marker["sha256"]
            except FileNotFoundError:
                intact = False
            if intact:
                done[marker["index"]] = marker
        return done

    def write_shard(self, table: str, index: int, rows: pa.Table, meta: dict[str, Any] | None = None) -> None:
        data = table_to_parquet_bytes(rows)
        rel = self.shard_name(table, index)
        self._atomic_write(rel, data)
        marker = {
            "file": rel,
            "index": index,
            "sha256": bytes_sha256(data),
            "bytes": len(data),
            "rows": rows.num_rows,
            "meta": meta or {},
        }
        self._atomic_write(f"{PROGRESS}/{table}-{index:05d}.json", json.dumps(marker).encode())

    def discard_shard(self, table: str, index: int) -> None:
        """Forget a finished shard (e.g. one planned with another shard size)."""
        for rel in (f"{PROGRESS}/{table}-{index:05d}.json", self.shard_name(table, index)):
            if self.fs.exists(f"{self.base}/{rel}"):
                self.fs.rm(f"{self.base}/{rel}")

    def write_table(self, table: str, rows: pa.Table) -> None:
        """A whole (small) table as its single shard."""
        self.write_shard(table, 0, rows)

    def read_shard(self, table: str, index: int) -> pa.Table:
        return pq.read_table(pa.BufferReader(self.fs.cat_file(f"{self.base}/{self.shard_name(table, index)}")))

    # --- folders written by other libraries (adapters, model cards) ------------------------------------
    @contextmanager
    def local_dir(self, rel: str) -> Iterator[str]:
        """A local folder to write into; its files become part of the artifact when the block ends."""
        tmp = tempfile.mkdtemp(prefix="selftrain-")
        try:
            yield tmp
            for dirpath, _, filenames in os.walk(tmp):
                for filename in sorted(filenames):
                    local = os.path.join(dirpath, filename)
                    sub = os.path.relpath(local, tmp).replace(os.sep, "/")
                    target = f"{rel}/{sub}"
                    self._atomic_put(target, local)
                    self._files[target] = {"sha256": file_sha256(local), "bytes": os.path.getsize(local)}
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    # --- finish --------------------------------------------------------------------------------------
    def commit(self, manifest: dict[str, Any]) -> ArtifactRef:
        """Record shards and files, then write manifest.json last. Returns the artifact's ref."""
        tables: dict[str, list[str]] = {}
        rows: dict[str, int] = {}
        folder = f"{self.base}/{PROGRESS}"
        listed = sorted(self.fs.ls(folder, detail=False)) if self.fs.exists(folder) else []
        markers = [p for p in listed if p.endswith(".json") and not p.rsplit("/", 1)[-1].startswith(".tmp-")]
        for path in markers:
            marker = json.loads(self.fs.cat_file(path))
            table = marker["file"].rsplit("-", 1)[0]
            tables.setdefault(table, []).append(marker["file"])
            rows[table] = rows.get(table, 0) + marker["rows"]
            self._files[marker["file"]] = {"sha256": marker["sha256"], "bytes": marker["bytes"]}
        for table, files in tables.items():
            files.sort()
            self._schemas[table] = str(self.read_shard(table, 0).schema) if files else ""
        full = {
            "format_version": MANIFEST_FORMAT,
            "stage": self.stage,
            "key": self.key,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **manifest,
            "tables": tables,
            "row_counts": rows,
            "schemas": self._schemas,
            "files": dict(sorted(self._files.items())),
        }
        self._atomic_write(MANIFEST, json.dumps(full, indent=2, default=str).encode("utf-8"))
        if isinstance(self.fs, LocalFileSystem):  # the artifact's own entry in its stage folder, made by __init__
            fsync_dir(self.base.rsplit("/", 1)[0])
        if listed:  # after the manifest: a crash in between keeps the shards' markers
            self.fs.rm(folder, recursive=True)
        for stray in self.fs.glob(f"{self.base}/.tmp-*"):  # a write cut short by a killed process (a lost worker)
            with suppress(FileNotFoundError):
                self.fs.rm_file(stray)
        return self.store.ref(self.stage, self.key)

    def abort(self) -> None:
        """Remove everything written (a user error must leave no partial artifact)."""
        self.store.delete(self.stage, self.key)
