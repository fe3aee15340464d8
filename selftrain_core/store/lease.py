"""One writer per artifact on object storage: a lease taken by a conditional create, renewed by a heartbeat.

An object store has no OS lock, but it has one operation two machines cannot both win: creating an object that
does not exist yet (S3's `If-None-Match: *`, fsspec's `pipe_file(mode="create")`). The lock of `<stage>/<key>` is
the folder `<root>/.locks/<stage>/<key>.lock/` of numbered leases; the highest number is the current one, and whoever
creates the next number holds the lock. A taker creates lease n+1 when lease n is released, or when its holder is
gone: a process of this machine (same host and pid namespace) that no longer exists, or a lease that has not been
renewed for `lease_s` as timed by the taker's own clock (no other machine's clock is trusted). The holder renews
its lease every `lease_s / 4` from a background thread, so a dead holder's lease expires and a live one never does;
a holder that stalled past `lease_s` and was taken over says so at its next renewal (both then write the same bytes:
the key fixes them). A lease holds no secret: pid, host, stage, key and times.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

from selftrain_core.errors import SelftrainError
from selftrain_core.store.artifact_store import ArtifactStore

# How long a lease lives without renewal: what a run on another machine waits after its holder died silently.
LEASE_S = 60.0


def _node() -> str:
    """This machine's process table: its host and pid namespace (containers on one host have their own)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return f"{socket.gethostname()}/{namespace}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def describe(lease: dict[str, Any] | None) -> str:
    if not lease:
        return "a run that has not described itself"
    return (
        f"pid {lease.get('pid')} on {lease.get('host')} (computing {lease.get('stage')}/{lease.get('key')} since "
        f"{lease.get('since')})"
    )


class Lease:
    """The lease folder of one artifact on one store."""

    def __init__(self, store: ArtifactStore, folder: str, stage: str, key: str, lease_s: float):
        self.store, self.fs, self.folder = store, store.fs, folder
        self.stage, self.key, self.lease_s = stage, key, lease_s
        self.token = uuid.uuid4().hex
        self.since = datetime.now(UTC).isoformat(timespec="seconds")
        self.number: int | None = None
        self.renewals = 0
        self.lost = threading.Event()

    def path(self, number: int) -> str:
        return f"{self.folder}/{number:08d}.json"

    def current(self) -> tuple[int, bytes | None]:
        """(number, body) of the newest lease; (-1, None) when there is none. Listed fresh: no cached listing."""
        self.fs.invalidate_cache(self.folder)
        try:
            names = [p.rsplit("/", 1)[-1] for p in self.fs.ls(self.folder, detail=False)]
        except FileNotFoundError:
            names = []
        numbers = sorted(int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit())
        if not numbers:
            return -1, None
        try:
            return numbers[-1], self.fs.cat_file(self.path(numbers[-1]))
        except FileNotFoundError:  # superseded and removed between the listing and the read
            return self.current()

    def body(self, released: bool = False) -> bytes:
        return json.dumps(
            {
                "token": self.token,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "node": _node(),
                "stage": self.stage,
                "key": self.key,
                "since": self.since,
                "renewals": self.renewals,
                "lease_s": self.lease_s,
                "released": released,
            }
        ).encode()

    def try_take(self, number: int) -> bool:
        """Create lease `number`; False when another run created it first."""
        try:
            self.fs.pipe_file(self.path(number), self.body(), mode="create")
        except FileExistsError:
            return False
        except (TypeError, ValueError, NotImplementedError) as exc:  # an implementation without exclusive create
            raise SelftrainError(
                f"artifact_root {self.store.url}: this store's fsspec implementation cannot create an object only if "
                f"it does not exist (pipe_file(mode='create'): {exc}), which the artifact lock needs; upgrade it "
                "(s3fs, gcsfs, adlfs >= 2024.12)"
            ) from None
        self.number = number
        for older in range(max(0, number - 2), number):  # superseded: their holders have moved on or died
            with suppress(FileNotFoundError):
                self.fs.rm_file(self.path(older))
        return True

    def renew(self) -> None:
        """Rewrite the lease (one more renewal), unless a newer one exists: then the lock was taken over."""
        newest, _ = self.current()
        if newest != self.number:
            self.lost.set()
            return
        self.renewals += 1
        self.fs.pipe_file(self.path(self.number), self.body())

    def release(self) -> None:
        newest, _ = self.current()
        if newest == self.number:
            self.fs.pipe_file(self.path(self.number), self.body(released=True))


def _parse(body: bytes | None) -> dict[str, Any] | None:
    try:
        lease = json.loads(body) if body is not None else None
    except ValueError:
        return None
    return lease if isinstance(lease, dict) else None


def gone(lease: dict[str, Any] | None) -> bool:
    """Released, or held by a process of this machine that no longer exists."""
    if lease is None:
        return False
    if lease.get("released"):
        return True
    pid = lease.get("pid")
    return lease.get("node") == _node() and isinstance(pid, int) and not _alive(pid)


@contextmanager
def leased(
    store: ArtifactStore,
    folder: str,
    stage: str,
    key: str,
    log: Callable[[str], None],
    poll_s: float,
    timeout_s: float,
    lease_s: float,
    on_timeout: Callable[[str], Exception],
) -> Iterator[None]:
    """Hold the lease of `stage/key` for the block; `on_timeout(holder)` is raised after waiting `timeout_s`."""
    lease = Lease(store, folder, stage, key, lease_s)
    start, seen, seen_at, told = time.monotonic(), None, time.monotonic(), False
    while True:
        number, body = lease.current()
        holder = _parse(body)
        if body != seen:  # renewed (or a new holder): its lease runs from now, by this machine's clock
            seen, seen_at = body, time.monotonic()
        expired = time.monotonic() - seen_at >= lease_s
        if (number < 0 or gone(holder) or expired) and lease.try_take(number + 1):
            break
        if number >= 0 and not told and not gone(holder):
            log(f"{stage}: another run is computing {key} ({describe(holder)}); waiting for it")
            told = True
        if time.monotonic() - start >= timeout_s:
            raise on_timeout(describe(holder))
        time.sleep(poll_s)
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(lease_s / 4):
            try:
                lease.renew()
            except OSError as exc:  # the store was unreachable for a moment: the next renewal tries again
                log(f"{stage}: could not renew the lock on {key} ({exc}); retrying")
            if lease.lost.is_set():
                log(f"{stage}: another run took over the lock on {key} after this run missed renewing it")
                return

    beat = threading.Thread(target=heartbeat, name=f"lease-{stage}-{key}", daemon=True)
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join()
        with suppress(OSError):
            lease.release()
