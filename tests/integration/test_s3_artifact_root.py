"""`artifact_root: s3://...` end to end, against a real S3-compatible server process (moto): the CLI is killed with
SIGKILL mid-answers and resumes from the shards in the bucket (same files as an uninterrupted local run), the full
run completes, a second run is all cache hits, and lineage, report and export read the bucket; a second round
samples through the first round's adapter, downloaded and verified. The secret key reaches no object, manifest,
log or Prefect record."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import s3fs
import yaml

from selftrain_core.config import STAGES
from selftrain_core.config.loading import build_run_config
from selftrain_core.runs.rounds import local_adapter, next_round
from selftrain_core.store import ArtifactStore
from tests.conftest import tiny_config_data
from tests.integration.test_cli_kill_resume import _config
from tests.pipeline import run_pipeline
from tests.s3_server import SECRET, bucket_texts, s3_env

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-m", "selftrain_cli.app"]


def _env(tmp_path: Path, endpoint: str, prefect_api: dict[str, str]) -> dict[str, str]:
    """The CLI's environment: the S3 server's credentials, this test process's Prefect server."""
    env = {**os.environ, **s3_env(endpoint), "PREFECT_HOME": str(tmp_path / "prefect-home"), "PYTHONUNBUFFERED": "1"}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", **prefect_api)
    return env


def _cli(args: list[str], env: dict[str, str], outputs: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=600)
    outputs.append(done.stdout + done.stderr)
    assert done.returncode == 0, outputs[-1][-3000:]
    return done


def _kill_during_answers(config: Path, root: str, env: dict[str, str]) -> str:
    """Start `selftrain answers`, SIGKILL it once two answers shards are in the bucket; the answers key."""
    fs = s3fs.S3FileSystem(use_listings_cache=False)
    pattern = f"{root.removeprefix('s3://')}/answers/*/_progress/data-*.json"
    proc = subprocess.Popen(
        [*CLI, "answers", "-c", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    key = None
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            markers = fs.glob(pattern)
            if len(markers) >= 2:
                key = markers[0].split("/answers/", 1)[1].split("/", 1)[0]
                break
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert key is not None, "the run ended before two shards were done; the test could not kill it mid-stage"
    return key


def test_a_run_on_s3_resumes_after_sigkill_caches_and_traces_lineage(
    tiny_lm, tiny_embedder, corpus_file, s3_endpoint, s3_root, tmp_path, prefect_api, prefect_database
):
    config = _config(tiny_lm, tiny_embedder, corpus_file, s3_root, tmp_path / "s3.yaml")
    env, outputs = _env(tmp_path, s3_endpoint, prefect_api), []
    store = ArtifactStore(s3_root)

    key = _kill_during_answers(config, s3_root, env)
    assert not store.has_manifest("answers", key), "killed mid-stage: no manifest"
    done_before = len(store.fs.glob(f"{store.dir('answers', key)}/_progress/data-*.json"))

    _cli(["run", "-c", str(config)], env, outputs)  # resumes answers, then every later stage
    assert "already done" in outputs[-1], outputs[-1][-3000:]
    assert "waiting for it" not in outputs[-1], "the killed run's lease is taken over at once on its machine"
    manifest = store.manifest("answers", key)
    assert manifest["resumed_shards"] >= done_before - 1, "at most the shard in flight is lost"
    listed = {m["stage"]: m["key"] for m in store.list()}
    assert set(listed) == set(STAGES) and all(store.verify(s, k) == [] for s, k in listed.items())

    _cli(["run", "-c", str(config)], env, outputs)
    finished = [line for line in outputs[-1].splitlines() if "Task run" in line and "Finished in state" in line]
    assert len(finished) == len(STAGES) and all("Cached" in line for line in finished), outputs[-1][-3000:]

    pair = store.read_table(("curate", listed["curate"])).column("pair_id")[0].as_py()
    _cli(["lineage", pair, "-c", str(config)], env, outputs)
    assert listed["ingest"] in outputs[-1] and listed["answers"] in outputs[-1], outputs[-1]
    _cli(["report", "--markdown", "-c", str(config)], env, outputs)
    assert outputs[-1].startswith("#"), outputs[-1][:500]
    _cli(["export-dataset", str(tmp_path / "dataset"), "-c", str(config)], env, outputs)
    assert (tmp_path / "dataset" / "README.md").is_file()

    local = build_run_config({**yaml.safe_load(config.read_text()), "artifact_root": str(tmp_path / "local")})
    refs, _ = run_pipeline(local, stop_after="answers")
    assert refs["answers"].key == key
    clean = ArtifactStore(local.artifact_root).manifest("answers", key)
    assert manifest["files"] == clean["files"], "same rows and checksums as an uninterrupted local run"

    for path, body in bucket_texts(s3_root).items():
        assert SECRET.encode() not in body, path
    assert not any(SECRET in text for text in outputs)
    database = prefect_database  # the Prefect server's records: parameters, logs, artifacts
    for path in [*database.parent.glob(f"{database.name}*"), *(tmp_path / "prefect-home").rglob("*")]:
        assert not path.is_file() or SECRET.encode() not in path.read_bytes(), path


def test_round_two_on_s3_samples_through_round_one_verified_adapter(tiny_lm, tiny_embedder, corpus_file, s3_root):
    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, s3_root)
    data["evaluate"]["judge"] = {"enabled": False}
    first_cfg = build_run_config(data)
    first, _ = run_pipeline(first_cfg)
    store = ArtifactStore(s3_root)
    adapter = local_adapter(store, first["train"])
    assert Path(adapter, "adapter_config.json").is_file() and not adapter.startswith("s3://")
    second, _ = run_pipeline(next_round(first_cfg, adapter))
    assert second["answers"].key != first["answers"].key, "round 2 samples through round 1's adapter"
    metrics = store.manifest("evaluate", second["evaluate"].key)["metrics"]
    assert {"trained-base", "trained-previous", "previous"} <= {m["model"] for m in metrics}
    assert all(store.verify(stage, ref.key) == [] for stage, ref in second.items())
