"""Two runs asking for the same artifact at once compute it once; a dead holder's lock does not block a retry."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pyarrow as pa

from selftrain_core.stages.base import RunInfo, execute, make_plan
from selftrain_core.store import ArtifactStore


def slow_compute(calls: list[int]):
    def compute(writer):
        calls.append(1)
        time.sleep(0.6)
        writer.write_table("data", pa.table({"x": [1, 2, 3]}))
        return {}

    return compute


def test_concurrent_runs_compute_an_artifact_once_and_both_get_it(tmp_path):
    store, plan, calls, refs, lines = ArtifactStore(str(tmp_path)), make_plan("demo", 1, {"a": 1}), [], [], []
    threads = [
        threading.Thread(target=lambda: refs.append(execute(plan, store, RunInfo(), slow_compute(calls), lines.append)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and refs[0] == refs[1]
    assert any("waiting for it" in line for line in lines) and any("cache hit" in line for line in lines)
    assert not os.path.exists(f"{store.dir('demo', plan.key)}.lock"), "the lock is released"


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path):
    store, plan, calls, lines = ArtifactStore(str(tmp_path)), make_plan("demo", 1, {"a": 2}), [], []
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock = f"{store.dir('demo', plan.key)}.lock"
    os.makedirs(os.path.dirname(lock), exist_ok=True)
    with open(lock, "w") as handle:
        json.dump({"pid": int(dead.stdout), "host": socket.gethostname(), "since": 0}, handle)
    ref = execute(plan, store, RunInfo(), slow_compute(calls), lines.append)
    assert calls == [1] and store.verify("demo", ref.key) == []
    assert any("stale lock" in line for line in lines)
