"""The decode loop's shared-prefix attention against its per-row cache: same tokens, same logprobs (up to float
rounding), the model left as it was."""

from __future__ import annotations

import pytest
import torch

from selftrain_core.backends import decoding, prefill, shared_prefix
from selftrain_core.backends.base import ChatRequest
from selftrain_core.backends.hf import HFBackend
from selftrain_core.models.loading import load_causal_lm, load_tokenizer
from selftrain_core.models.resolve import resolve_model


@pytest.fixture(scope="module")
def backend(tiny_lm):
    model = resolve_model(str(tiny_lm))
    return HFBackend(load_causal_lm(model, device="cpu"), load_tokenizer(model), batch_size=4)


def _requests() -> list[ChatRequest]:
    """Prompts of different lengths (left padding), sampled and greedy requests reading one prompt (rows of one
    prompt in several slots), and lengths that end rows at different steps (rows leave the batch)."""
    texts = ["What is the capital of France?", "Who wrote it?", "Paris", "A longer question? " * 12, "Why?"]
    requests = []
    for i, text in enumerate(texts):
        messages = [{"role": "user", "content": text}]
        requests.append(
            ChatRequest(
                request_id=f"s{i}", messages=messages, n=3, temperature=1.0, top_p=0.9, max_tokens=6 + 3 * i, seed=i
            )
        )
        requests.append(ChatRequest(request_id=f"g{i}", messages=messages, n=1, temperature=0.0, max_tokens=12))
    return requests


def _decoded(results):
    return [c.token_ids for r in results for c in r.completions], [
        c.token_logprobs for r in results for c in r.completions
    ]


def test_shared_prefix_decodes_what_the_per_row_cache_decodes(backend, monkeypatch):
    calls = {"prefill": 0, "attend": 0}
    original_prefill, original_attend = prefill.prefill_shared, shared_prefix.attend

    def counted_prefill(*args, **kwargs):
        calls["prefill"] += 1
        return original_prefill(*args, **kwargs)

    def counted_attend(*args, **kwargs):
        calls["attend"] += 1
        return original_attend(*args, **kwargs)

    monkeypatch.setattr(decoding, "prefill_shared", counted_prefill)
    monkeypatch.setitem(shared_prefix.AttentionInterface._global_mapping, shared_prefix.IMPLEMENTATION, counted_attend)
    before = backend.model.config._attn_implementation
    shared_tokens, shared_logprobs = _decoded(backend.generate(_requests()))
    assert calls["prefill"] == 2 and calls["attend"] > 0, "5 prompts at 4 a batch: two batches; took the shared path"
    assert backend.model.config._attn_implementation == before

    monkeypatch.setattr(decoding, "shares_prefix", lambda model: False)
    row_tokens, row_logprobs = _decoded(backend.generate(_requests()))
    assert calls["prefill"] == 2
    assert shared_tokens == row_tokens
    assert len({len(t) for t in shared_tokens}) > 2, "rows ended at different steps"
    for a, b in zip(shared_logprobs, row_logprobs, strict=True):
        assert a == pytest.approx(b, abs=1e-4)


def test_the_attention_implementation_is_restored_when_decoding_fails(backend, monkeypatch):
    before = backend.model.config._attn_implementation

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setitem(shared_prefix.AttentionInterface._global_mapping, shared_prefix.IMPLEMENTATION, broken)
    with pytest.raises(RuntimeError, match="boom"):
        backend.generate(_requests()[:2])
    assert backend.model.config._attn_implementation == before
    monkeypatch.undo()
    assert backend.generate(_requests()[:2])[0].completions[0].token_ids  # the model still decodes afterwards


def test_the_attention_serves_single_token_steps_of_the_decode_loop_only():
    query = torch.zeros(2, 4, 3, 8)
    with pytest.raises(RuntimeError, match="single-token steps"):
        shared_prefix.attend(None, query, query, query, None, shared_prefix=object())
    with pytest.raises(RuntimeError, match="single-token steps"):
        shared_prefix.attend(None, query[:, :, :1], query, query, None)


def test_only_known_architectures_share_the_prefix():
    class Config:
        model_type = "gpt2"

    class Model:
        config = Config()

    assert not shared_prefix.shares_prefix(Model())
    Config.model_type = "llama"
    assert shared_prefix.shares_prefix(Model())


def test_prompts_of_one_row_each_decode_through_the_per_row_cache(backend, monkeypatch):
    def refused(*args, **kwargs):
        raise AssertionError("one row a prompt shares nothing")

    monkeypatch.setattr(decoding, "prefill_shared", refused)
    greedy = [r for r in _requests() if r.temperature == 0.0]
    assert all(r.completions[0].token_ids for r in backend.generate(greedy))


def test_a_forward_that_makes_another_kind_of_cache_falls_back_to_the_per_row_path(backend, monkeypatch):
    requests = _requests()[:4]
    shared = _decoded(backend.generate(requests))[0]
    monkeypatch.setattr(prefill, "_plain", lambda cache: False)  # as if the forward had made sliding-window layers
    per_row = []
    original = decoding.prefill
    monkeypatch.setattr(decoding, "prefill", lambda *args: per_row.append(1) or original(*args))
    assert _decoded(backend.generate(requests))[0] == shared
    assert per_row, "fell back to the per-row prefill"


def test_dropping_rows_in_any_order_keeps_each_rows_generated_part():
    prefix = torch.zeros(2, 1, 3, 2)
    layer = shared_prefix.PrefixLayer.over(prefix, prefix, rows=4, steps=3)
    for step in range(2):
        layer.update(torch.arange(4.0).view(4, 1, 1, 1).expand(4, 1, 1, 2) + 10 * step, torch.zeros(4, 1, 1, 2))
    layer.batch_select_indices(torch.tensor([0, 3, 2]))  # swap-remove of row 1: in place
    assert layer.keys[:, 0, :, 0].tolist() == [[0, 10], [3, 13], [2, 12]]
    layer.batch_select_indices(torch.tensor([2, 0]))  # a reorder: copied
    assert layer.keys[:, 0, :, 0].tolist() == [[2, 12], [0, 10]]
    assert layer.get_seq_length() == 3 + 2
