"""One writer per artifact: two runs asking for the same artifact at once compute it once.

On local disk the first run takes an OS lock (flock, through `filelock`) on `<root>/.locks/<stage>/<key>.lock` and
computes; another waits for it, then finds the artifact complete and reuses it. The kernel drops the lock when its
holder's process ends, however it ends (SIGKILL, out of memory), so a killed run never blocks a retry, and no waiter
has to guess from a pid whether a holder is dead (two waiters guessing at once both took over; a reused pid never
looked dead). The holder describes itself in `<key>.lock.holder` (pid, host, stage, key, since), so a waiter that
gives up after `timeout_s` says who holds the lock. On a store that is not a local filesystem (object storage has no
atomic create) there is no lock: the artifact keys still make concurrent runs write identical bytes, at the cost of
computing twice.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime

from filelock import FileLock, Timeout
from fsspec.implementations.local import LocalFileSystem

from selftrain_core.errors import SelftrainError
from selftrain_core.store.artifact_store import ArtifactStore

# Long enough for the slowest stage (training) of another run to finish; a waiter past it stops with the holder named.
LOCK_TIMEOUT_S = 24 * 3600.0


class ArtifactLockTimeout(SelftrainError):
    """Another run held an artifact's lock for longer than this run would wait; the message names that run."""


def _describe_holder(holder_path: str) -> str:
    try:
        with open(holder_path, encoding="utf-8") as handle:
            h = json.load(handle)
        return f"pid {h['pid']} on {h['host']} (computing {h['stage']}/{h['key']} since {h['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not described itself (it may have just taken the lock)"


def _write_holder(holder_path: str, stage: str, key: str) -> None:
    """Atomically (temp file, then rename), so a waiter never reads half a description."""
    since = datetime.now(UTC).isoformat(timespec="seconds")
    tmp = f"{holder_path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(
            {"pid": os.getpid(), "host": socket.gethostname(), "stage": stage, "key": key, "since": since}, handle
        )
    os.replace(tmp, holder_path)


LOCKS = ".locks"


def lock_path(store: ArtifactStore, stage: str, key: str) -> str:
    """`<root>/.locks/<stage>/<key>.lock`: apart from the artifacts, so a stage folder holds only artifacts. The
    file stays after release (deleting an flock'd file lets a waiter lock a file no one else can see)."""
    return f"{store.root}/{LOCKS}/{stage}/{key}.lock"


@contextmanager
def artifact_lock(
    store: ArtifactStore,
    stage: str,
    key: str,
    log: Callable[[str], None] = print,
    poll_s: float = 0.5,
    timeout_s: float = LOCK_TIMEOUT_S,
) -> Iterator[None]:
    """Hold the lock on `stage/key` for the block; wait at most `timeout_s` for another run to release it."""
    if not isinstance(store.fs, LocalFileSystem):
        yield
        return
    path = lock_path(store, stage, key)
    holder_path = f"{path}.holder"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    lock = FileLock(path)
    start = time.monotonic()
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log(f"{stage}: another run is computing {key} ({_describe_holder(holder_path)}); waiting for it")
        try:
            lock.acquire(timeout=max(0.0, timeout_s - (time.monotonic() - start)), poll_interval=poll_s)
        except Timeout:
            raise ArtifactLockTimeout(
                f"gave up after {timeout_s:g} s waiting for the lock on {stage}/{key} ({path}): it is held by "
                f"{_describe_holder(holder_path)}; let that run finish, or stop it and run again"
            ) from None
    try:
        _write_holder(holder_path, stage, key)
        yield
    finally:
        with suppress(FileNotFoundError):
            os.remove(holder_path)  # while still holding the lock, so it never removes the next holder's file
        lock.release()
