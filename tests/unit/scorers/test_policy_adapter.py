"""A scorer that asks the policy (BSDetector's self-reflection, selfcheck-prompt) asks the policy that sampled the
answers: in round 2+ that is the base model with the round's adapter, not the base model alone."""

from __future__ import annotations

import pytest
import torch

from selftrain_core.config.loading import build_run_config
from selftrain_core.stages.score import stage as score
from selftrain_core.store import ArtifactRef
from tests.conftest import tiny_config_data

ANSWERS = ArtifactRef(stage="answers", key="a" * 20, uri="file:///x/answers/a")


@pytest.fixture(scope="module")
def adapter(tiny_lm, tmp_path_factory):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    folder = tmp_path_factory.mktemp("adapter") / "adapter"
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_lm), config).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("scorer", ["selfcheck-prompt", "bsdetector"])
def test_round_two_scores_with_the_adapter_the_answers_were_sampled_through(
    scorer, adapter, tiny_lm, tiny_embedder, corpus_file, tmp_path
):
    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path)
    data["score"] = {"scorer": scorer}
    data["model"]["dtype"] = "float32"  # both rounds' policy in one dtype: only the adapter tells their logits apart
    round_one = build_run_config(data)
    round_two = build_run_config({**data, "model": {**data["model"], "adapter": str(adapter)}})

    plan_one, plan_two = score.plan(round_one, ANSWERS), score.plan(round_two, ANSWERS)
    assert [m["role"] for m in plan_two.models] == [*[m["role"] for m in plan_one.models], "policy_adapter"]
    assert plan_one.key != plan_two.key

    base = score.open_models(round_one, score.scorer_models(round_one)).policy.model
    adapted = score.open_models(round_two, score.scorer_models(round_two)).policy.model
    ids = torch.tensor([[5, 9, 13, 17, 21]])
    with torch.no_grad():
        assert not torch.allclose(base(ids).logits, adapted(ids).logits), "the adapter's (random) weights apply"
