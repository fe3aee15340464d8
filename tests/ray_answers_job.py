"""The Ray test's driver (run inside the namespaced cluster by tests/ray_cluster.py): the answers and score stages of a
small SmolLM2 run, once in this process and then on the cluster (score first, on both nodes; then answers,
optionally killing the second node mid-stage).

    python -m tests.ray_cluster tests.ray_answers_job OUT_JSON ROOT [--kill]

Writes to OUT_JSON: each run's data files (name -> sha256), the nodes the Ray run's manifest names, and its log.
The Ray run recomputes the local run's answers artifact in the same root (deleted in between: the keys agree).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import torch

from selftrain_core.config.loading import load_run_config
from selftrain_core.stages.answers import stage as answers
from selftrain_core.stages.base import RunInfo
from selftrain_core.stages.score import stage as score
from selftrain_core.store import ArtifactStore
from tests.pipeline import run_pipeline
from tests.ray_cluster import second_node_processes

OVERRIDES = [
    "ingest.source.categories=[Geography]",
    "ingest.source.documents_per_category=3",
    "ingest.test_fraction=0",
    "questions.filters=[empty, not_a_question]",
    "questions.questions_per_chunk=2",
    "answers.num_samples=2",
    "answers.max_new_tokens=12",
    "answers.shard_size=1",
    "score.shard_size=2",
]


def config(root: str, *extra: str):
    return load_run_config(None, [f"artifact_root={root}", *OVERRIDES, *extra])


def data_files(store: ArtifactStore, key: str, stage: str = "answers") -> dict[str, str]:
    files = store.manifest(stage, key)["files"]
    return {name: meta["sha256"] for name, meta in files.items() if name.startswith("data-")}


def kill_second_node_after_first_shard(progress: Path, killed: list[int]) -> None:
    while not (progress.exists() and any(progress.glob("data-*.json"))):
        time.sleep(0.05)
    for proc in second_node_processes():
        try:
            os.kill(proc.pid, signal.SIGKILL)
            killed.append(proc.pid)
        except ProcessLookupError:
            pass


def main(args: list[str]) -> None:
    out, root, kill = Path(args[0]), args[1], "--kill" in args
    torch.set_num_threads(1)  # the actors' thread count: the same rows
    local = config(f"{root}/local")
    refs, _ = run_pipeline(local, stop_after="score")
    store = ArtifactStore(local.artifact_root)
    result = {
        "local": data_files(store, refs["answers"].key),
        "score_local": data_files(store, refs["score"].key, "score"),
    }
    on_ray = config(f"{root}/local", "executor.kind=ray", "executor.workers=2")

    store.delete("score", refs["score"].key)  # the Ray run computes the same artifact again, here
    score_plan = score.plan(on_ray, refs["answers"])
    assert score_plan.key == refs["score"].key, "the executor must not change the key"
    score_lines = []
    score.run(on_ray, score_plan, store, RunInfo(run_id="ray"), log=score_lines.append)
    result.update(
        score_ray=data_files(store, score_plan.key, "score"),
        score_nodes=store.manifest("score", score_plan.key).get("ray_nodes", {}),
        score_log=score_lines,
    )

    store.delete("answers", refs["answers"].key)  # the Ray run computes the same artifact again, here
    plan = answers.plan(on_ray, refs["questions"], refs["chunk"])
    assert plan.key == refs["answers"].key, "the executor must not change the key"
    lines, killed = [], []
    if kill:
        progress = Path(on_ray.artifact_root) / "answers" / plan.key / "_progress"
        threading.Thread(target=kill_second_node_after_first_shard, args=(progress, killed), daemon=True).start()
    ray_store = store
    started = time.perf_counter()
    ref = answers.run(on_ray, plan, ray_store, RunInfo(run_id="ray"), log=lines.append)
    manifest = ray_store.manifest("answers", ref.key)
    result.update(
        ray=data_files(ray_store, ref.key),
        ray_nodes=manifest.get("ray_nodes", {}),
        seconds=time.perf_counter() - started,
        killed=killed,
        log=lines,
    )
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
