"""The vLLM engine's worker process SIGKILLed mid-answers (as the kernel's OOM killer would): the finished shards
stay, the error says the rerun resumes, and the rerun's artifact is an uninterrupted run's (same_answers.py)."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import psutil
import pytest

from selftrain_core.backends.vllm_engine import WORKER, VLLMWorkerError
from selftrain_core.config.loading import build_run_config
from selftrain_core.stages.answers import stage as answers
from selftrain_core.stages.base import RunInfo
from selftrain_core.store import ArtifactStore
from tests.conftest import tiny_config_data
from tests.pipeline import run_pipeline
from tests.vllm.same_answers import assert_same_answers

pytestmark = pytest.mark.integration


def kill_worker() -> bool:
    """SIGKILL this process's vLLM worker (the engine's own children die with it); True when one was found."""
    for child in psutil.Process().children(recursive=True):
        if WORKER in " ".join(child.cmdline()):
            os.kill(child.pid, signal.SIGKILL)
            return True
    return False


def test_a_killed_vllm_worker_keeps_finished_answers_and_the_rerun_equals_a_clean_run(
    vllm_python, vllm_tiny_lm, tiny_embedder, corpus_file, tmp_path, monkeypatch
):
    monkeypatch.setenv("SELFTRAIN_VLLM_PYTHON", vllm_python)
    data = tiny_config_data(vllm_tiny_lm, tiny_embedder, corpus_file, tmp_path / "upstream")
    upstream, _ = run_pipeline(build_run_config(data), stop_after="questions")
    questions = len(ArtifactStore(data["artifact_root"]).read_rows(upstream["questions"]))
    assert questions > 4, "more than two shards of two questions"

    def run(root: str, progress=None):
        if not Path(root).exists():
            shutil.copytree(tmp_path / "upstream", root)
        cfg = build_run_config({**data, "artifact_root": root, "answers": {**data["answers"], "backend": "vllm"}})
        store, lines = ArtifactStore(root), []
        plan = answers.plan(cfg, upstream["questions"], upstream["chunk"])
        return store, answers.run(cfg, plan, store, RunInfo(), lines.append, progress), lines

    killed: list[bool] = []

    def kill_after_first_shard(percent: float) -> None:  # one shard (2 questions, 6 requests) and part of the next
        if percent * 3 * questions / 100 >= 8 and not killed:
            killed.append(kill_worker())

    root = str(tmp_path / "killed")
    with pytest.raises(VLLMWorkerError, match="worker exited") as failed:
        run(root, kill_after_first_shard)
    assert killed == [True]
    assert "the same command resumes" in " ".join(failed.value.__notes__)
    folder = next((Path(root) / "answers").iterdir())
    finished = sorted(p.name for p in folder.glob("data-*.parquet"))
    assert finished and not (folder / "manifest.json").exists(), "finished shards kept, no manifest"

    store, resumed, lines = run(root)
    clean_store, clean, _ = run(str(tmp_path / "clean"))
    assert any("resuming" in line for line in lines) and resumed.key == clean.key
    assert store.manifest("answers", resumed.key)["resumed_shards"] == len(finished)
    assert_same_answers(store.read_table(resumed), clean_store.read_table(clean))
