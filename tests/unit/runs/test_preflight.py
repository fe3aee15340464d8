"""Preflight: a config that asks for a GPU this machine lacks fails before any work, naming model.device."""

import pytest
import torch

from selftrain_core.config import RunConfig
from selftrain_core.errors import ConfigError
from selftrain_core.runs.preflight import check_device, check_run_supported


def test_cpu_and_auto_run_anywhere():
    check_device("cpu")
    check_device("auto")
    check_run_supported(RunConfig())


def test_cuda_without_a_gpu_is_refused_naming_the_setting(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"model\.device=cuda needs a CUDA GPU.*selftrain-gpu"):
        check_run_supported(RunConfig(model={"device": "cuda"}))


def test_a_gpu_index_past_the_last_gpu_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    check_device("cuda:0")
    with pytest.raises(ConfigError, match=r"model\.device=cuda:1: this machine has 1 CUDA GPU"):
        check_device("cuda:1")
    with pytest.raises(ConfigError, match="cuda:x"):
        check_device("cuda:x")


def test_a_vllm_run_without_a_vllm_environment_stops_before_any_work(monkeypatch, tmp_path):
    from selftrain_core.config import RunConfig
    from selftrain_core.errors import ConfigError
    from selftrain_core.runs.preflight import check_run_supported

    cfg = RunConfig.model_validate({"answers": {"backend": "vllm"}, "model": {"device": "cpu"}})
    monkeypatch.setenv("SELFTRAIN_VLLM_PYTHON", str(tmp_path / "no-such-python"))
    with pytest.raises(ConfigError, match="make vllm-env"):
        check_run_supported(cfg)


@pytest.mark.parametrize(
    "sections",
    [
        {"questions": {"backend": "vllm"}},
        {"evaluate": {"judge": {"backend": "vllm"}}},
        {"evaluate": {"backend": "vllm"}},
    ],
    ids=["questions", "judge", "evaluate"],
)
def test_questions_evaluation_or_a_judge_through_vllm_need_the_environment_too(sections, monkeypatch, tmp_path):
    monkeypatch.setenv("SELFTRAIN_VLLM_PYTHON", str(tmp_path / "no-such-python"))
    with pytest.raises(ConfigError, match="make vllm-env"):
        check_run_supported(RunConfig.model_validate(sections))


def test_a_disabled_vllm_judge_needs_no_vllm_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SELFTRAIN_VLLM_PYTHON", str(tmp_path / "no-such-python"))
    check_run_supported(RunConfig.model_validate({"evaluate": {"judge": {"backend": "vllm", "enabled": False}}}))
