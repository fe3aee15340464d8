"""The Ray evaluate test's driver (run inside the namespaced cluster by tests/ray_cluster.py): a tiny run up to train,
then its evaluate stage once in this process and once on the cluster, whose actors fetch the trained adapter from
the store themselves.

    python -m tests.ray_cluster tests.ray_evaluate_job OUT_JSON ROOT

Writes to OUT_JSON: each run's evaluate files (name -> sha256), the Ray nodes its manifest names per table, and its
log. The Ray run recomputes the local run's evaluate artifact in the same root (deleted in between: the keys agree).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from selftrain_core.config.loading import build_run_config
from selftrain_core.stages.base import RunInfo
from selftrain_core.stages.evaluate import stage as evaluate
from selftrain_core.store import ArtifactStore
from tests.conftest import tiny_config_data, write_corpus
from tests.pipeline import run_pipeline
from tests.tiny_models import build_tiny_embedder, build_tiny_lm


def main(args: list[str]) -> None:
    out, root = Path(args[0]), Path(args[1])
    torch.set_num_threads(1)  # the actors' thread count: the same texts
    models = root / "models"
    lm, embedder = build_tiny_lm(models / "lm"), build_tiny_embedder(models / "embedder")
    data = tiny_config_data(lm, embedder, write_corpus(root / "docs.jsonl"), root / "artifacts")
    data["train"].update(learning_rate=0.01, num_epochs=2)  # a trained arm whose answers differ from base's
    data["evaluate"].update(judge={"enabled": False}, shard_size=3)
    local = build_run_config(data)
    refs, _ = run_pipeline(local, stop_after="train")
    store = ArtifactStore(local.artifact_root)

    def run(cfg, run_id: str, lines: list[str]):
        plan = evaluate.plan(cfg, refs["train"], refs["answers"], refs["score"], refs["chunk"])
        ref = evaluate.run(cfg, plan, store, RunInfo(run_id=run_id), log=lines.append)
        manifest = store.manifest("evaluate", ref.key)
        return ref.key, {name: meta["sha256"] for name, meta in manifest["files"].items()}, manifest

    local_key, local_files, _ = run(local, "local", [])
    store.delete("evaluate", local_key)  # the Ray run computes the same artifact again, here
    on_ray = build_run_config({**data, "executor": {"kind": "ray", "workers": 2}})
    lines: list[str] = []
    ray_key, ray_files, manifest = run(on_ray, "ray", lines)
    ref = store.ref("evaluate", ray_key)
    base = {r["request_id"].split("/", 1)[1]: r["text"] for r in store.read_rows(ref, "answers_base")
            if r["request_id"].startswith("without/")}  # fmt: skip
    trained = {r["request_id"].split("/", 1)[1]: r["text"] for r in store.read_rows(ref, "answers_trained")}
    result = {
        "arm_differs": sum(base[i] != text for i, text in trained.items()),
        "keys": [local_key, ray_key],
        "local": local_files,
        "ray": ray_files,
        "ray_nodes": manifest.get("ray_nodes", {}),
        "log": lines,
    }
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
