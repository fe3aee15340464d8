"""completion_scoring_on_cpu: TRL's fused LM head projects only the labelled positions on a CPU, with the same
log-probabilities, metrics and gradients as when it projects every position, and TRL's own choice comes back."""

from __future__ import annotations

import pytest
import torch
import trl.trainer.utils as trl_utils
from transformers import AutoModelForCausalLM
from trl.trainer.utils import add_fused_lm_head

from selftrain_core.stages.train.lm_head import completion_scoring_on_cpu

OUTPUTS = ("log_probs", "entropy", "mean_logits", "is_top1")  # what TRL's DPOTrainer asks for


@pytest.fixture
def projected_rows(monkeypatch):
    """The number of positions each call of the chunked log-prob function projects onto the vocabulary."""
    rows: list[int] = []
    function = trl_utils._ChunkedLogProbFunction
    apply = function.apply

    def counting(hidden, *args):
        rows.append(hidden.shape[0])
        return apply(hidden, *args)

    monkeypatch.setattr(function, "apply", counting)
    return rows


def scored(model, ids, labels):
    """The fused head's outputs and the gradient of the summed log-probs with respect to every parameter."""
    model.zero_grad(set_to_none=True)
    out = model(input_ids=ids, labels=labels, fused_lm_head=True)
    out.log_probs.sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return {k: getattr(out, k).detach() for k in OUTPUTS}, grads


def test_only_labelled_positions_are_projected_with_the_same_results(tiny_lm, projected_rows):
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_lm, dtype=torch.float32)
    add_fused_lm_head(model, outputs=OUTPUTS)
    ids = torch.randint(0, model.config.vocab_size, (3, 20))
    labels = ids.clone()
    labels[:, :12] = -100  # a prompt of 12 tokens, then the completion
    labels[1, 17:] = -100  # a shorter completion (padding)

    every, every_grads = scored(model, ids, labels)
    with completion_scoring_on_cpu() as set_here:
        labelled, labelled_grads = scored(model, ids, labels)
    assert set_here
    assert projected_rows == [3 * 19, int((labels[:, 1:] != -100).sum())]
    for key in OUTPUTS:
        torch.testing.assert_close(labelled[key], every[key], rtol=1e-5, atol=1e-5)
    assert labelled_grads.keys() == every_grads.keys() and every_grads
    for name, grad in every_grads.items():
        torch.testing.assert_close(labelled_grads[name], grad, rtol=1e-4, atol=1e-6)


def test_trl_choice_comes_back_after_the_block_even_on_error():
    original = trl_utils._use_triton
    cpu = torch.device("cpu")
    assert not original(cpu), "TRL projects every position on a CPU by itself"
    with pytest.raises(RuntimeError), completion_scoring_on_cpu():
        assert trl_utils._use_triton(cpu)
        raise RuntimeError("a failed step")
    assert trl_utils._use_triton is original


def test_a_trl_without_the_choice_is_left_alone(monkeypatch):
    monkeypatch.delattr(trl_utils, "_use_triton")
    with completion_scoring_on_cpu() as set_here:
        assert not set_here and not hasattr(trl_utils, "_use_triton")
