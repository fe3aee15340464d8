"""One writer per artifact: two runs asking for the same artifact at once compute it once.

On local disk the first run takes an OS lock (flock, through `filelock`) on `<root>/.locks/<stage>/<key>.lock` and
computes; another waits for it, then finds the artifact complete and reuses it. The kernel drops the lock when its
holder's process ends, however it ends (SIGKILL, out of memory), so a killed run never blocks a retry, and no waiter
has to guess from a pid whether a holder is dead (two waiters guessing at once both took over; a reused pid never
looked dead). The holder describes itself in `<key>.lock.holder` (pid, host, stage, key, since), so a waiter that
gives up after `timeout_s` says who holds the lock. On an object store (S3, GCS, Azure, memory) the lock is a lease
made by a conditional create and kept alive by a heartbeat (store/lease.py): two machines compute an artifact once,
and a dead holder's lease expires after `lease_s`. On any other remote filesystem there is no lock: the artifact
keys still make concurrent runs write identical bytes, at the cost of computing twice.
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
from selftrain_core.store.lease import LEASE_S, leased
from selftrain_core.store.objects import is_object_store

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
    file stays after release (deleting an flock'd file lets a waiter lock a file no one else can see). On an object
    store it is the folder of the artifact's leases."""
    return f"{store.root}/{LOCKS}/{stage}/{key}.lock"


@contextmanager
def artifact_lock(
    store: ArtifactStore,
    stage: str,
    key: str,
    log: Callable[[str], None] = print,
    poll_s: float | None = None,
    timeout_s: float = LOCK_TIMEOUT_S,
    lease_s: float = LEASE_S,
) -> Iterator[None]:
    """Hold the lock on `stage/key` for the block; wait at most `timeout_s` for another run to release it.

    `poll_s`: how often a waiter looks (default 0.5 s on disk, 2 s on an object store, where each look is a request);
    `lease_s`: on an object store, how long a holder's lease lives without renewal."""
    path = lock_path(store, stage, key)
    if is_object_store(store.fs):

        def timed_out(holder: str) -> ArtifactLockTimeout:
            return ArtifactLockTimeout(
                f"gave up after {timeout_s:g} s waiting for the lock on {stage}/{key} "
                f"({store.fs.unstrip_protocol(path)}): it is held by {holder}; let that run finish, or stop it and "
                f"run again (a stopped run's lease expires {lease_s:g} s after its last renewal)"
            )

        with leased(store, path, stage, key, log, 2.0 if poll_s is None else poll_s, timeout_s, lease_s, timed_out):
            yield
        return
    if not isinstance(store.fs, LocalFileSystem):
        yield
        return
    poll_s = 0.5 if poll_s is None else poll_s
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
