"""The openai backend against vLLM's own OpenAI-compatible server (from the CPU build, serving a tiny model on
127.0.0.1): the answers stage through it, the server SIGKILLed mid-stage, restarted, and the stage resumed with
nothing lost or duplicated: the same rows as an uninterrupted run (tests/vllm/same_answers.py says how same)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from selftrain_core.backends.errors import ServerUnavailableError
from selftrain_core.config.loading import build_run_config
from selftrain_core.stages.answers import stage as answers
from selftrain_core.stages.base import RunInfo
from selftrain_core.store import ArtifactStore
from tests.conftest import tiny_config_data
from tests.openai_server import free_port
from tests.pipeline import run_pipeline
from tests.vllm.same_answers import assert_same_answers
from tests.vllm.vllm_server import kill, start_vllm_server

pytestmark = pytest.mark.integration
KEY = "sk-selftrain-vllm-serve-7d1e"
KEY_ENV = "SELFTRAIN_TEST_VLLM_KEY"


def test_vllm_serve_killed_mid_stage_then_restarted_resumes_with_nothing_lost_or_duplicated(
    vllm_python, vllm_tiny_lm, tiny_embedder, corpus_file, tmp_path, monkeypatch
):
    monkeypatch.setenv(KEY_ENV, KEY)
    data = tiny_config_data(vllm_tiny_lm, tiny_embedder, corpus_file, tmp_path / "upstream")
    upstream, _ = run_pipeline(build_run_config(data), stop_after="questions")
    port = free_port()
    server = {"base_url": f"http://127.0.0.1:{port}/v1", "model": "tiny", "api_key_env": KEY_ENV}
    server.update(max_retries=1, retry_backoff_s=0.05, max_concurrency=4)

    def run(root: str, progress=None):
        if not Path(root).exists():
            shutil.copytree(tmp_path / "upstream", root)
        cfg = build_run_config(
            {**data, "artifact_root": root, "answers": {**data["answers"], "backend": "openai", "server": server}}
        )
        store, lines = ArtifactStore(root), []
        plan = answers.plan(cfg, upstream["questions"], upstream["chunk"])
        answers.run(cfg, plan, store, RunInfo(), lines.append, progress)
        return store, plan, lines

    questions = len(ArtifactStore(data["artifact_root"]).read_rows(upstream["questions"]))
    assert questions > 4  # more than two shards of two questions
    proc = start_vllm_server(vllm_python, vllm_tiny_lm, port, "tiny", KEY)
    try:
        # one shard (2 questions, 6 requests) and part of the next are answered, then the server dies
        def kill_mid_stage(percent: float) -> None:
            if percent * 3 * questions / 100 >= 8 and proc.poll() is None:
                kill(proc)

        killed = str(tmp_path / "killed")
        with pytest.raises(ServerUnavailableError):
            run(killed, kill_mid_stage)
    finally:
        kill(proc)
    shards = list((Path(killed) / "answers").glob("*/data-*.parquet"))
    assert len(shards) >= 1 and not list((Path(killed) / "answers").glob("*/manifest.json"))

    proc = start_vllm_server(vllm_python, vllm_tiny_lm, port, "tiny", KEY)
    try:
        store, resumed, lines = run(killed)
        clean_store, clean, _ = run(str(tmp_path / "clean"))
    finally:
        kill(proc)
    assert any("resuming" in line for line in lines) and resumed.key == clean.key
    manifest = store.manifest("answers", resumed.key)
    assert manifest["resumed_shards"] == len(shards) and manifest["usage"]["backend"] == "openai"
    table: pa.Table = store.read_table(store.ref("answers", resumed.key)).sort_by("question_id")
    assert table.num_rows == questions == len(set(table["answer_id"].to_pylist()))
    assert_same_answers(table, clean_store.read_table(clean_store.ref("answers", clean.key)))
    assert all(len(samples) == 2 for samples in table["no_doc"].to_pylist())
    for path in Path(killed).rglob("*"):
        assert not path.is_file() or KEY.encode() not in path.read_bytes(), path
