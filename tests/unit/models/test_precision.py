"""model.dtype `auto`: bfloat16 sampling only with the hf backend on a CPU with native bf16, float32 elsewhere and
for training; the resolved dtype, not `auto`, is what the stages' keys and manifests hold."""

from __future__ import annotations

import pytest

from selftrain_core.backends.settings import GenerationSettings
from selftrain_core.config import RunConfig
from selftrain_core.config.models import ModelConfig
from selftrain_core.models import precision
from selftrain_core.models.precision import inference_dtype, training_dtype
from selftrain_core.stages.answers import stage as answers
from selftrain_core.stages.questions import stage as questions
from selftrain_core.stages.train import stage as train
from selftrain_core.store import ArtifactRef

CHUNKS = ArtifactRef(stage="chunk", key="c" * 20, uri="file:///none")
QUESTIONS = ArtifactRef(stage="questions", key="q" * 20, uri="file:///none")


@pytest.fixture
def native(monkeypatch):
    """Set whether this 'CPU' has native bf16."""

    def set_native(value: bool) -> None:
        monkeypatch.setattr(precision, "native_bf16_cpu", lambda: value)

    return set_native


def test_auto_is_bfloat16_only_for_the_hf_backend_on_a_cpu_with_native_bf16(native):
    native(True)
    assert inference_dtype(ModelConfig(device="cpu")) == "bfloat16"
    assert inference_dtype(ModelConfig(device="cpu"), "vllm") == "float32", "vllm: not measured, float32"
    assert inference_dtype(ModelConfig(device="cuda:0")) == "float32", "a GPU: not measured, float32"
    native(False)
    assert inference_dtype(ModelConfig(device="cpu")) == "float32", "emulated bf16 is slower: float32"


def test_a_dtype_given_is_kept_everywhere_and_training_keeps_float32_under_auto(native):
    native(False)
    assert inference_dtype(ModelConfig(dtype="bfloat16", device="cpu")) == "bfloat16"
    native(True)
    assert inference_dtype(ModelConfig(dtype="float32", device="cpu")) == "float32"
    assert inference_dtype(ModelConfig(dtype="float16", device="cpu"), "vllm") == "float16"
    assert training_dtype(ModelConfig()) == "float32"
    assert training_dtype(ModelConfig(dtype="bfloat16")) == "bfloat16"


def test_the_default_is_auto_and_the_probe_answers_on_this_machine():
    assert ModelConfig().dtype == "auto"
    assert isinstance(precision.native_bf16_cpu(), bool)


def test_the_resolved_dtype_is_what_the_generation_settings_and_the_keys_hold(native, tiny_lm):
    def config(dtype: str) -> RunConfig:
        return RunConfig.model_validate({"model": {"name": str(tiny_lm), "device": "cpu", "dtype": dtype}})

    native(True)
    auto = config("auto")
    assert GenerationSettings.for_answers(auto).dtype == "bfloat16"
    assert GenerationSettings.for_questions(auto).dtype == "bfloat16"
    plan = answers.plan(auto, QUESTIONS, CHUNKS)
    assert plan.key == answers.plan(config("bfloat16"), QUESTIONS, CHUNKS).key, "auto keys as what it resolves to"
    assert plan.settings["dtype"] == "bfloat16"
    assert questions.plan(auto, CHUNKS).key == questions.plan(config("bfloat16"), CHUNKS).key
    curated = ArtifactRef(stage="curate", key="d" * 20, uri="file:///none")
    assert train.plan(auto, curated).key == train.plan(config("float32"), curated).key, "training: float32"

    native(False)
    assert answers.plan(auto, QUESTIONS, CHUNKS).key == answers.plan(config("float32"), QUESTIONS, CHUNKS).key
    assert answers.plan(auto, QUESTIONS, CHUNKS).key != plan.key, "another CPU, other samples: another key"


def test_a_scorer_shipped_to_a_node_carries_the_driver_resolved_dtype(native, tiny_lm):
    from selftrain_core.stages.score.engine import ScorerSpec

    cfg = RunConfig.model_validate({"model": {"name": str(tiny_lm), "device": "cpu"}})
    native(True)  # the driver
    spec = ScorerSpec.of(cfg, {})
    native(False)  # a node without native bf16 opens the policy as the key says, not as it would resolve `auto`
    assert spec.cfg.model.dtype == "bfloat16" and inference_dtype(spec.cfg.model) == "bfloat16"


def test_steps_that_run_or_measure_a_trained_adapter_stay_float32_under_auto(native, tiny_lm, tmp_path):
    native(True)
    model = {"name": str(tiny_lm), "device": "cpu"}
    cfg = RunConfig.model_validate({"model": model})
    assert inference_dtype(cfg.model, trained=True) == "float32"
    assert GenerationSettings.for_evaluate(cfg).dtype == "float32", "evaluate compares trained arms"
    assert GenerationSettings.for_judge(cfg).dtype == "float32"
    assert GenerationSettings.for_questions(cfg, trained=True).dtype == "float32", "evaluate's new questions"
    assert GenerationSettings.for_questions(cfg).dtype == "bfloat16", "the questions stage: the base model"
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    round_two = RunConfig.model_validate({"model": {**model, "adapter": str(adapter)}})
    assert GenerationSettings.for_answers(round_two).dtype == "float32", "sampling through a trained adapter"
    assert GenerationSettings.for_answers(cfg).dtype == "bfloat16"
    bf16 = RunConfig.model_validate({"model": {**model, "dtype": "bfloat16"}})
    assert GenerationSettings.for_evaluate(bf16).dtype == "bfloat16", "a dtype given is the user's choice"
