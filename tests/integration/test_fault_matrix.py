"""The fault matrix's process kills: one tiny run SIGKILLed in the middle of each stage in turn (the next run resumes
the killed stage and is killed in the next one), then run to the end; every artifact then has exactly the files and
checksums of an uninterrupted run, and nothing is left half-written. The other rows of the README's fault matrix
have their own tests (named there)."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest
import torch
import yaml

from selftrain_core.config import STAGES
from selftrain_core.config.loading import build_run_config
from selftrain_core.store import ArtifactStore
from tests.conftest import tiny_config_data
from tests.pipeline import run_pipeline

pytestmark = pytest.mark.integration
# Each run is a process of its own, so that SIGKILL ends it mid-stage. They are forked from a server process that
# imported the libraries once (multiprocessing's forkserver, preloaded; it runs no torch op, so forking it is safe),
# not started afresh: ~13 s of imports per run on these CPUs.
FORKS = multiprocessing.get_context("forkserver")
FORKS.set_forkserver_preload(["tests.pipeline", "transformers", "trl", "peft", "sentence_transformers"])


def run_config(config: str) -> None:
    torch.set_num_threads(1)  # one float order in every run
    run_pipeline(build_run_config(yaml.safe_load(Path(config).read_text())), log=lambda _: None)


def start(config: Path) -> multiprocessing.Process:
    proc = FORKS.Process(target=run_config, args=(str(config),))
    proc.start()
    return proc


def in_progress(root: Path, stage: str) -> bool:
    folder = root / stage
    return folder.is_dir() and any(p.is_dir() and not (p / "manifest.json").exists() for p in folder.iterdir())


def files_by_artifact(root: Path) -> dict[tuple[str, str], dict]:
    store = ArtifactStore(str(root))
    return {(m["stage"], m["key"]): m["files"] for stage in STAGES for m in store.list(stage)}


def test_a_run_killed_in_each_stage_in_turn_ends_with_an_uninterrupted_runs_artifacts(
    tiny_lm, tiny_embedder, corpus_file, tmp_path
):
    configs = {}
    for name in ("clean", "killed"):
        configs[name] = tmp_path / f"{name}.yaml"
        data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path / name)
        data["answers"].update(shard_size=1, batch_size=2)  # several shards: a kill can land between them
        configs[name].write_text(yaml.safe_dump(data))
    clean = start(configs["clean"])
    clean.join(900)
    assert clean.exitcode == 0

    root, killed_in = tmp_path / "killed", []
    for stage in STAGES:
        proc = start(configs["killed"])
        try:
            while proc.is_alive() and not in_progress(root, stage):
                time.sleep(0.005)
        finally:
            if proc.is_alive():
                proc.kill()  # SIGKILL
                killed_in.append(stage)
            proc.join()
        if proc.exitcode == 0:
            break  # the stages left were too quick to catch: the run finished
    assert {"questions", "answers", "train", "evaluate"} <= set(killed_in), killed_in
    last = start(configs["killed"])
    last.join(900)
    assert last.exitcode == 0

    assert files_by_artifact(root) == files_by_artifact(tmp_path / "clean"), "same artifacts, files and checksums"
    leftovers = [p for p in root.rglob("*") if p.name.startswith(".tmp-")]
    assert not leftovers, leftovers
    for stage in STAGES:  # no folder without a manifest: every killed stage was resumed and finished
        assert not in_progress(root, stage), stage
