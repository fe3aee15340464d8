"""One writer per artifact: two runs asking for the same artifact at once compute it once.

The first run creates `<root>/<stage>/<key>.lock` atomically (O_EXCL) and computes; the second waits for the lock
to go, then finds the artifact complete and reuses it. A lock whose holder died on this machine (its pid is gone,
e.g. after SIGKILL) is stale and taken over, so a killed run never blocks a retry. On a store that is not a local
filesystem (object storage has no atomic create) there is no lock: the artifact keys still make concurrent runs
write identical bytes, at the cost of computing twice.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from fsspec.implementations.local import LocalFileSystem

from selftrain_core.store.artifact_store import ArtifactStore


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _stale(path: str) -> bool:
    """The holder was on this machine and its process is gone (or the file is unreadable half-written junk)."""
    try:
        with open(path, encoding="utf-8") as handle:
            holder = json.load(handle)
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return time.time() - os.path.getmtime(path) > 5  # give a writer a moment to finish its 40 bytes
    return holder.get("host") == socket.gethostname() and not _alive(int(holder.get("pid", -1)))


@contextmanager
def artifact_lock(
    store: ArtifactStore, stage: str, key: str, log: Callable[[str], None] = print, poll_s: float = 0.5
) -> Iterator[None]:
    if not isinstance(store.fs, LocalFileSystem):
        yield
        return
    path = f"{store.dir(stage, key)}.lock"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    waiting = False
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if _stale(path):
                log(f"{stage}: taking over the stale lock {path}")
                with suppress(FileNotFoundError):
                    os.remove(path)
                continue
            if not waiting:
                log(f"{stage}: another run is computing {key}; waiting for it")
                waiting = True
            time.sleep(poll_s)
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}, handle)
        break
    try:
        yield
    finally:
        with suppress(FileNotFoundError):
            os.remove(path)
