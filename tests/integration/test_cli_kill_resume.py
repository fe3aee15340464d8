"""Kill `selftrain` with SIGKILL during the answers stage, run it again: it resumes from its shards and the
finished artifact is identical to an uninterrupted run's. Also: a bad config fails before any work."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from selftrain_core.config.loading import build_run_config
from selftrain_core.store import ArtifactStore
from tests.conftest import tiny_config_data
from tests.pipeline import plan_keys, run_pipeline

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-m", "selftrain_cli.app"]


def _env(tmp_path: Path, prefect_api: dict[str, str] | None = None) -> dict[str, str]:
    """The CLI's environment: the test process's Prefect server when given (`prefect_api`), else a temporary one."""
    env = dict(os.environ)
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_SERVER_ANALYTICS_ENABLED="false", PYTHONUNBUFFERED="1"
    )
    env.update(prefect_api or {})
    # the CLI's ephemeral server starts in ~10 s, far longer on a loaded 2-core machine (the default waits 20 s)
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    return env


def _config(tiny_lm, tiny_embedder, corpus_file, root: Path, path: Path) -> Path:
    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, root)
    # long answers and one question per shard: the answers stage takes a few seconds, shard by shard
    data["answers"].update(max_new_tokens=160, num_samples=4, shard_size=1, batch_size=3)
    path.write_text(yaml.safe_dump(data))
    return path


def test_sigkill_during_answers_then_resume_gives_identical_artifact(
    tiny_lm, tiny_embedder, corpus_file, tmp_path, prefect_api
):
    config = _config(tiny_lm, tiny_embedder, corpus_file, tmp_path / "killed", tmp_path / "killed.yaml")
    cfg = build_run_config(yaml.safe_load(config.read_text()))
    store = ArtifactStore(cfg.artifact_root)
    key = None
    proc = subprocess.Popen(
        [*CLI, "answers", "-c", str(config)],
        env=_env(tmp_path, prefect_api),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            progress = list((Path(cfg.artifact_root) / "answers").glob("*/_progress/data-*.json"))
            if len(progress) >= 2:
                key = progress[0].parent.parent.name
                break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert key is not None, "the run ended before two shards were done; the test could not kill it mid-stage"
    assert not store.has_manifest("answers", key), "killed mid-stage: no manifest"
    done_before = len(list((Path(cfg.artifact_root) / "answers" / key / "_progress").glob("data-*.json")))

    resumed = subprocess.run(
        [*CLI, "answers", "-c", str(config)],
        env=_env(tmp_path, prefect_api),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    output = resumed.stdout + resumed.stderr
    assert "already done" in output, output[-3000:]
    manifest = store.manifest("answers", key)
    assert manifest["resumed_shards"] >= done_before - 1, "at most the shard in flight is lost"

    clean_cfg = build_run_config({**yaml.safe_load(config.read_text()), "artifact_root": str(tmp_path / "clean")})
    refs, _ = run_pipeline(clean_cfg, stop_after="answers")
    assert refs["answers"].key == key == plan_keys(clean_cfg)["answers"]
    clean = ArtifactStore(clean_cfg.artifact_root).manifest("answers", key)
    assert manifest["files"] == clean["files"], "same rows and checksums as an uninterrupted run"


def test_bad_config_fails_before_any_work(tmp_path):
    result = subprocess.run(
        [*CLI, "run", f"artifact_root={tmp_path / 'a'}", "model.name=no-such-model"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "model.name" in result.stderr and "no-such-model" in result.stderr
    assert not (tmp_path / "a").exists()
    assert "Starting temporary server" not in result.stdout + result.stderr, "refused before Prefect starts"


def test_a_server_that_stays_down_exits_3_with_a_one_line_message(
    tiny_lm, tiny_embedder, corpus_file, tmp_path, prefect_api
):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = _config(tiny_lm, tiny_embedder, corpus_file, tmp_path / "a", tmp_path / "c.yaml")
    result = subprocess.run(
        [
            *CLI,
            "answers",
            "-c",
            str(config),
            "answers.backend=openai",
            f"answers.server={{base_url: 'http://127.0.0.1:{port}/v1', model: tiny, max_retries: 1}}",
            "retries={count: 1, delay_s: [0]}",  # Prefect retries the stage once, then gives up
        ],
        env=_env(tmp_path, prefect_api),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 3, result.stderr[-3000:]
    assert "Retry 1/1" in result.stdout + result.stderr, "a server that stayed down is retried before giving up"
    assert f"127.0.0.1:{port}" in result.stderr and "run the same command again to resume" in result.stderr
    assert "Traceback" not in result.stderr.split("error:")[-1]
