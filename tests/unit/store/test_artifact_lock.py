"""Runs asking for the same artifact at once compute it once, one at a time, in separate processes as in real use;
a holder killed with SIGKILL never blocks the next run, and a waiter that gives up names the holder."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import socket
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

from selftrain_core.stages.base import RunInfo, execute, make_plan
from selftrain_core.store import ArtifactStore
from selftrain_core.store.lock import ArtifactLockTimeout, artifact_lock, lock_path

# spawn, not fork: each contender is a fresh interpreter, like a second `selftrain run`
SPAWN = multiprocessing.get_context("spawn")


def _mark(markers: str, event: str) -> None:
    with open(markers, "a", encoding="utf-8") as handle:  # O_APPEND: each short line lands whole
        handle.write(f"{os.getpid()} {event} {time.time()}\n")


def _events(markers: Path) -> list[tuple[int, str, float]]:
    rows = [line.split() for line in markers.read_text().splitlines()]
    return [(int(pid), event, float(at)) for pid, event, at in rows]


def _compute_under_lock(root: str, markers: str, barrier, hold_s: float) -> None:
    barrier.wait()
    with artifact_lock(ArtifactStore(root), "demo", "k", log=lambda _: None, poll_s=0.02):
        _mark(markers, "start")
        time.sleep(hold_s)
        _mark(markers, "end")


def _execute(root: str, markers: str, barrier) -> None:
    def compute(writer):
        _mark(markers, "compute")
        time.sleep(0.5)
        writer.write_table("data", pa.table({"x": [1, 2, 3]}))
        return {}

    barrier.wait()
    execute(make_plan("demo", 1, {"a": 1}), ArtifactStore(root), RunInfo(), compute, lambda line: _mark(markers, "log"))


def _hold_until_killed(root: str, markers: str) -> None:
    with artifact_lock(ArtifactStore(root), "demo", "k", log=lambda _: None):
        _mark(markers, "holding")
        time.sleep(120)


def _wait_then_hold(root: str, markers: str) -> None:
    def log(line: str) -> None:
        _mark(markers, "waiting")
        with open(f"{markers}.log", "a", encoding="utf-8") as handle:
            handle.write(line)

    with artifact_lock(ArtifactStore(root), "demo", "k", log=log, poll_s=0.05, timeout_s=60):
        _mark(markers, "got")
        time.sleep(0.3)
        _mark(markers, "done")


def _start(target, *args) -> multiprocessing.Process:
    proc = SPAWN.Process(target=target, args=args, daemon=True)
    proc.start()
    return proc


def _until(condition, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for a child process"
        time.sleep(0.05)


def _has(markers: Path, event: str) -> bool:
    return markers.exists() and any(e == event for _, e, _ in _events(markers))


def test_processes_hold_the_lock_one_at_a_time(tmp_path):
    markers, barrier = tmp_path / "markers", SPAWN.Barrier(3)
    procs = [_start(_compute_under_lock, str(tmp_path / "store"), str(markers), barrier, 0.3) for _ in range(3)]
    for proc in procs:
        proc.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    events = _events(markers)
    assert len(events) == 6 and len({pid for pid, _, _ in events}) == 3
    for (pid_a, start, _), (pid_b, end, _) in zip(events[::2], events[1::2], strict=True):
        assert (start, end) == ("start", "end") and pid_a == pid_b, f"two holders at once: {events}"


def test_processes_asking_for_one_artifact_compute_it_once(tmp_path):
    root, markers, barrier = str(tmp_path / "store"), tmp_path / "markers", SPAWN.Barrier(3)
    procs = [_start(_execute, root, str(markers), barrier) for _ in range(3)]
    for proc in procs:
        proc.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert [e for _, e, _ in _events(markers)].count("compute") == 1
    store = ArtifactStore(root)
    assert store.verify("demo", make_plan("demo", 1, {"a": 1}).key) == []


def test_a_holder_killed_with_sigkill_releases_the_lock_to_one_waiter_at_once(tmp_path):
    """Two waiters see the holder die together; exactly one gets the lock at once, the other after it."""
    root, markers = str(tmp_path / "store"), tmp_path / "markers"
    holder = _start(_hold_until_killed, root, str(markers))
    _until(lambda: _has(markers, "holding"))
    waiters = [_start(_wait_then_hold, root, str(markers)) for _ in range(2)]
    _until(lambda: [e for _, e, _ in _events(markers)].count("waiting") == 2)
    assert f"pid {holder.pid} on {socket.gethostname()}" in Path(f"{markers}.log").read_text()
    killed_at = time.time()
    holder.kill()  # SIGKILL: no finally block runs, the holder file stays behind
    holder.join(30)
    for waiter in waiters:
        waiter.join(60)
    assert [w.exitcode for w in waiters] == [0, 0]
    held = [(pid, e, at) for pid, e, at in _events(markers) if e in ("got", "done")]
    assert [e for _, e, _ in held] == ["got", "done", "got", "done"], f"two holders at once: {held}"
    assert held[0][0] == held[1][0] != held[2][0] == held[3][0]
    assert held[0][2] - killed_at < 5, "a waiter got the lock as soon as the holder died"
    assert not Path(f"{lock_path(ArtifactStore(root), 'demo', 'k')}.holder").exists()


def test_a_waiter_that_times_out_names_the_holder(tmp_path):
    root, markers = str(tmp_path / "store"), tmp_path / "markers"
    holder = _start(_hold_until_killed, root, str(markers))
    try:
        _until(lambda: _has(markers, "holding"))
        started = time.monotonic()
        with (
            pytest.raises(ArtifactLockTimeout, match=re.escape(f"pid {holder.pid} on {socket.gethostname()}")) as error,
            artifact_lock(ArtifactStore(root), "demo", "k", log=lambda _: None, poll_s=0.05, timeout_s=0.5),
        ):
            pass
        assert time.monotonic() - started < 10
        assert "demo/k" in str(error.value) and "since" in str(error.value)
    finally:
        holder.kill()
        holder.join(30)


def test_threads_of_one_process_compute_an_artifact_once_and_both_get_it(tmp_path):
    store, plan, calls, refs, lines = ArtifactStore(str(tmp_path)), make_plan("demo", 1, {"a": 1}), [], [], []

    def compute(writer):
        calls.append(1)
        time.sleep(0.6)
        writer.write_table("data", pa.table({"x": [1, 2, 3]}))
        return {}

    threads = [
        threading.Thread(target=lambda: refs.append(execute(plan, store, RunInfo(), compute, lines.append)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and refs[0] == refs[1]
    assert any("waiting for it" in line for line in lines) and any("cache hit" in line for line in lines)
    assert not os.path.exists(f"{lock_path(store, 'demo', plan.key)}.holder"), "the lock is released"


def test_files_left_by_a_dead_run_do_not_block(tmp_path):
    """An older selftrain's lock file or a killed run's holder description is only a file, not a lock, even when
    the pid it names is alive (pid 1 stands for a reused pid: the old lock waited on it forever)."""
    store, plan, lines = ArtifactStore(str(tmp_path)), make_plan("demo", 1, {"a": 2}), []
    lock = lock_path(store, "demo", plan.key)
    os.makedirs(os.path.dirname(lock), exist_ok=True)
    for path in (lock, f"{lock}.holder"):
        with open(path, "w") as handle:
            json.dump({"pid": 1, "host": socket.gethostname(), "stage": "demo", "key": plan.key, "since": 0}, handle)
    ref = execute(plan, store, RunInfo(), lambda w: w.write_table("data", pa.table({"x": [1]})), lines.append)
    assert store.verify("demo", ref.key) == [] and not any("waiting" in line for line in lines)


def test_an_object_store_lock_is_a_lease_a_second_taker_waits_for(tmp_path):
    """fsspec's memory store stands for object storage here (tests/unit/store/test_s3_store.py uses a real S3
    server): a second taker in the same live process waits, and gives up naming the holder."""
    store = ArtifactStore(f"memory://{tmp_path.name}")
    with (
        artifact_lock(store, "demo", "k", log=lambda _: None, lease_s=5.0),
        pytest.raises(ArtifactLockTimeout, match=f"pid {os.getpid()} on {re.escape(socket.gethostname())}"),
        artifact_lock(store, "demo", "k", log=lambda _: None, poll_s=0.05, timeout_s=0.3),
    ):
        pass
    with artifact_lock(store, "demo", "k", poll_s=0.05, timeout_s=1.0):
        pass  # released: taken at once
