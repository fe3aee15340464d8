"""Rounds: the gate between them, and round 2 sampling from and continuing round 1's adapter."""

from __future__ import annotations

import pytest

from selftrain_core.config import RunConfig
from selftrain_core.config.loading import build_run_config
from selftrain_core.errors import ConfigError
from selftrain_core.runs.resolution import check_names_resolve
from selftrain_core.runs.rounds import gate, local_adapter, next_round
from selftrain_core.store import ArtifactStore
from tests.conftest import tiny_config_data
from tests.pipeline import run_pipeline


def diff(model: str, metric: str, value: float, low: float, high: float, set_name: str = "held_out") -> dict:
    return {"set": set_name, "model": model, "metric": metric, "value": value, "ci_low": low, "ci_high": high, "n": 10}


def with_rounds(**rounds) -> RunConfig:
    return RunConfig.model_validate({"rounds": {"count": 3, **rounds}})


def test_the_gate_passes_only_on_an_improvement_beyond_the_margin():
    metrics = [diff("trained-base", "f1", 0.04, -0.01, 0.09), diff("trained-base", "hallucinated", 0.05, 0.0, 0.1)]
    assert gate(with_rounds(), metrics).passed
    assert not gate(with_rounds(gate_margin=0.05), metrics).passed
    strict = gate(with_rounds(gate_requires_significance=True), metrics)
    assert not strict.passed and "spans 0" in strict.reason
    worse = gate(with_rounds(gate_metric="hallucinated"), metrics)  # more hallucination is worse
    assert not worse.passed and worse.improvement == pytest.approx(-0.05)
    assert not gate(with_rounds(), []).passed, "no evaluation to judge by: stop"


def test_the_gate_reads_its_own_set():
    metrics = [
        diff("trained-base", "correct", 0.1, 0.05, 0.15, "gold_train"),
        diff("trained-base", "correct", -0.1, -0.2, -0.05),
    ]
    assert gate(with_rounds(gate_metric="correct", gate_set="gold_train"), metrics).passed
    assert not gate(with_rounds(gate_metric="correct"), metrics).passed, "held_out got worse"
    with pytest.raises(Exception, match="gate_set"):
        RunConfig.model_validate({"rounds": {"count": 2, "gate_set": "known"}, "evaluate": {"sets": ["held_out"]}})


def test_full_fine_tuning_cannot_run_several_rounds():
    with pytest.raises(Exception, match="rounds.count > 1 continues a LoRA adapter"):
        RunConfig.model_validate({"rounds": {"count": 2}, "train": {"finetune": "full"}})


def test_round_two_samples_through_round_one_adapter_and_is_compared_with_it(
    tiny_lm, tiny_embedder, corpus_file, tmp_path
):
    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts")
    data["evaluate"]["judge"] = {"enabled": False}
    first_cfg = build_run_config(data)
    first, _ = run_pipeline(first_cfg)
    store = ArtifactStore(first_cfg.artifact_root)
    adapter = local_adapter(store, first["train"])
    second_cfg = next_round(first_cfg, adapter)
    second, _ = run_pipeline(second_cfg)
    assert second["questions"] == first["questions"], "questions come from the base model in every round"
    assert second["answers"].key != first["answers"].key, "round 2 samples through round 1's adapter"
    answers_manifest = store.manifest("answers", second["answers"].key)
    assert [m["role"] for m in answers_manifest["models"]] == ["policy", "policy_adapter"]
    assert answers_manifest["run"]["iteration"] == 2
    assert store.read_rows(second["answers"])[0]["model"].endswith(
        "+adapter:" + answers_manifest["models"][1]["fingerprint"]
    )
    train_manifest = store.manifest("train", second["train"].key)
    assert any(m["role"] == "init_adapter" for m in train_manifest["models"])
    metrics = store.manifest("evaluate", second["evaluate"].key)["metrics"]
    assert {"trained-base", "trained-previous", "previous"} <= {m["model"] for m in metrics}
    assert gate(second_cfg, metrics).against == "previous"
    missing = build_run_config({**data, "model": {**data["model"], "adapter": str(tmp_path / "missing")}})
    with pytest.raises(ConfigError, match=r"model\.adapter: checkpoint folder .* does not exist"):
        check_names_resolve(missing)  # at preflight: loading a config reads no disk
