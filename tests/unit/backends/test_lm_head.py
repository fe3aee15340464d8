"""The output layer in vocabulary blocks: the same logits, patched only for a decode, and only where it is safe."""

from __future__ import annotations

import pytest
import torch

from selftrain_core.backends import lm_head
from selftrain_core.backends.base import ChatRequest
from selftrain_core.backends.hf import HFBackend
from selftrain_core.backends.lm_head import blocked_linear, blocked_output
from selftrain_core.models.loading import load_causal_lm, load_tokenizer
from selftrain_core.models.resolve import resolve_model


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_lm):
    resolved = resolve_model(str(tiny_lm))
    return load_causal_lm(resolved, device="cpu"), load_tokenizer(resolved)


@pytest.mark.parametrize("shape", [(1, 32), (1, 1, 32), (7, 32), (3, 1, 32), (2, 5, 32)])
@pytest.mark.parametrize("block", [8, 100, 1000])
def test_blocked_logits_are_the_plain_logits(shape, block):
    torch.manual_seed(0)
    hidden, weight = torch.randn(*shape), torch.randn(300, 32)
    got = blocked_linear(hidden, weight, block)
    assert got.shape == (*shape[:-1], 300)
    torch.testing.assert_close(got, torch.nn.functional.linear(hidden, weight), rtol=1e-5, atol=1e-5)


def test_the_output_layer_is_blocked_inside_a_decode_only_and_restored_after_an_error(model_and_tokenizer, monkeypatch):
    model, _ = model_and_tokenizer
    monkeypatch.setattr(lm_head, "BLOCK", 16)  # the tiny model's vocabulary in several blocks
    layer = model.get_output_embeddings()
    ids = torch.tensor([[1, 5, 9, 3]])
    with torch.inference_mode():
        plain = model(input_ids=ids).logits
        with blocked_output(model):
            assert "forward" in vars(layer)
            with blocked_output(model):  # nested: one patch, removed by the outermost
                pass
            assert "forward" in vars(layer)
            blocked = model(input_ids=ids).logits
        assert "forward" not in vars(layer)
        with pytest.raises(RuntimeError, match="boom"), blocked_output(model):
            raise RuntimeError("boom")
        assert "forward" not in vars(layer)
    torch.testing.assert_close(blocked, plain, rtol=1e-5, atol=1e-5)


def test_a_hooked_or_non_linear_output_layer_is_left_as_it_is(model_and_tokenizer):
    model, _ = model_and_tokenizer
    layer = model.get_output_embeddings()

    def hooked(hidden):  # what accelerate's device hooks do: a forward on the instance
        return torch.nn.functional.linear(hidden, layer.weight)

    layer.forward = hooked
    try:
        with blocked_output(model):
            assert vars(layer)["forward"] is hooked
        assert vars(layer)["forward"] is hooked
    finally:
        del layer.forward

    class Wrapped(torch.nn.Module):
        def get_output_embeddings(self):
            return torch.nn.Sequential(torch.nn.Linear(4, 4, bias=False))

    with blocked_output(Wrapped()):  # not a plain Linear (a LoRA wrapper, say): nothing to patch, no error
        pass


def test_a_decode_with_blocks_samples_what_it_samples_without(model_and_tokenizer, monkeypatch):
    model, tokenizer = model_and_tokenizer
    requests = [
        ChatRequest(request_id=f"r{i}", messages=[{"role": "user", "content": text}], n=3, temperature=1.0,
                    max_tokens=6, seed=i)
        for i, text in enumerate(["What is the capital of France?", "Who wrote the book?"])
    ]  # fmt: skip
    monkeypatch.setattr(lm_head, "BLOCK", 16)
    blocked = HFBackend(model, tokenizer, batch_size=2).generate(requests)
    monkeypatch.setattr(lm_head, "_patchable", lambda layer: False)
    plain = HFBackend(model, tokenizer, batch_size=2).generate(requests)
    for b, p in zip(blocked, plain, strict=True):
        for cb, cp in zip(b.completions, p.completions, strict=True):
            assert cb.token_ids == cp.token_ids
            assert cb.token_logprobs == pytest.approx(cp.token_logprobs, abs=1e-4)
