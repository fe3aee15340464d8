"""The in-place KV cache gives the decode loop exactly what transformers' concatenating cache gives it."""

from __future__ import annotations

import pytest
import torch
from transformers.cache_utils import DynamicCache, DynamicLayer

from selftrain_core.backends import decoding, prefill
from selftrain_core.backends.base import ChatRequest
from selftrain_core.backends.hf import HFBackend
from selftrain_core.backends.kv_cache import RoomyLayer, compaction, preallocate
from selftrain_core.models.loading import load_causal_lm, load_tokenizer
from selftrain_core.models.resolve import resolve_model


def test_a_roomy_layer_holds_what_a_dynamic_layer_holds_through_appends_repeats_and_drops():
    torch.manual_seed(0)
    plain, first = DynamicLayer(), (torch.randn(2, 3, 5, 4), torch.randn(2, 3, 5, 4))
    plain.update(*first)
    roomy = RoomyLayer(*first, capacity=7)  # room for 2 more: the third append grows it
    for step in range(4):
        if step == 1:
            plain.batch_repeat_interleave(3), roomy.batch_repeat_interleave(3)
        if step == 2:
            keep = torch.tensor([0, 2, 5])
            plain.batch_select_indices(keep), roomy.batch_select_indices(keep)
        new = (torch.randn(plain.keys.shape[0], 3, 1, 4), torch.randn(plain.keys.shape[0], 3, 1, 4))
        expected, got = plain.update(*new), roomy.update(*new)
        assert all(torch.equal(e, g) for e, g in zip(expected, got, strict=True))
        assert roomy.get_seq_length() == plain.get_seq_length() == 6 + step


def test_dropping_rows_moves_only_the_rows_that_fill_the_holes_in_place():
    done = torch.tensor([False, True, False, False, True, False])
    order = compaction(done)
    assert order.tolist() == [0, 5, 2, 3]  # the last kept row fills the hole; rows 0, 2 and 3 stay
    assert compaction(torch.tensor([True, True, False])).tolist() == [2]
    assert compaction(torch.zeros(3, dtype=torch.bool)).tolist() == [0, 1, 2]
    torch.manual_seed(0)
    keys, values = torch.randn(6, 2, 5, 4), torch.randn(6, 2, 5, 4)
    plain, roomy = DynamicLayer(), RoomyLayer(keys, values, capacity=9)
    plain.update(keys, values)
    buffer = roomy._keys.data_ptr()
    plain.batch_select_indices(order), roomy.batch_select_indices(order)
    assert roomy._keys.data_ptr() == buffer, "compaction moved rows in place"
    new = (torch.randn(4, 2, 1, 4), torch.randn(4, 2, 1, 4))
    assert all(torch.equal(e, g) for e, g in zip(plain.update(*new), roomy.update(*new), strict=True))


def test_reorder_and_reset_act_on_the_buffer():
    torch.manual_seed(0)
    keys, values = torch.randn(3, 2, 4, 4), torch.randn(3, 2, 4, 4)
    plain, roomy = DynamicLayer(), RoomyLayer(keys, values, capacity=8)
    plain.update(keys, values)
    order = torch.tensor([2, 0, 1])
    plain.reorder_cache(order), roomy.reorder_cache(order)
    new = (torch.randn(3, 2, 1, 4), torch.randn(3, 2, 1, 4))
    assert all(torch.equal(e, g) for e, g in zip(plain.update(*new), roomy.update(*new), strict=True))
    roomy.reset()
    assert roomy.get_seq_length() == 0 and roomy.update(*new)[0].shape[-2] == 1 and not roomy.is_croppable


def test_a_cache_of_another_kind_is_left_as_it_is():
    assert preallocate(None, 8) is None
    empty = DynamicCache()
    assert preallocate(empty, 8) is empty


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_decoding_with_it_gives_what_the_concatenating_cache_gives(tiny_lm, monkeypatch, temperature):
    """Prompts prefilled in chunks into roomy buffers decode to the same tokens as all prompts prefilled in one
    left-padded batch with transformers' own cache (logprobs equal up to float rounding: the padding differs). Both
    decode through a cache of one row per sample (the shared-prefix path is test_shared_prefix.py's)."""
    monkeypatch.setattr(decoding, "shares_prefix", lambda model: False)
    model = resolve_model(str(tiny_lm))
    backend = HFBackend(load_causal_lm(model, device="cpu"), load_tokenizer(model), batch_size=4)
    texts = ["What is the capital of France?", "Who wrote it?", "Paris", "A longer question? " * 12]
    requests = [
        ChatRequest(
            request_id=f"r{i}",
            messages=[{"role": "user", "content": text}],
            n=3,
            temperature=temperature,
            max_tokens=12,
            seed=i,
        )  # fmt: skip
        for i, text in enumerate(texts)
    ]
    seen = []
    forward = prefill._forward
    monkeypatch.setattr(prefill, "_forward", lambda m, p, pad: seen.append(len(p)) or forward(m, p, pad))
    roomy = backend.generate(requests)
    assert len(seen) > 1 and sum(seen) == len(texts), "each prompt prefilled once, in more than one chunk"
    monkeypatch.setattr(prefill, "_plain", lambda cache: False)
    monkeypatch.setattr(prefill, "preallocate", lambda cache, n: cache)
    plain = backend.generate(requests)
    assert [c.token_ids for r in roomy for c in r.completions] == [c.token_ids for r in plain for c in r.completions]
    for r, p in zip(roomy, plain, strict=True):
        for a, b in zip(r.completions, p.completions, strict=True):
            assert a.token_logprobs == pytest.approx(b.token_logprobs, abs=1e-4)


def test_prompts_are_prefilled_in_chunks_of_similar_length():
    assert prefill.chunks([40, 400, 42, 410, 41]) == [[0, 4, 2], [1, 3]]
    assert prefill.chunks([10, 100]) == [[0], [1]]  # 100 x 2 is far over 1.25 x 110 tokens
    many = prefill.chunks([300] * 10)
    assert [len(c) for c in many] == [6, 4]  # 6 x 300 <= 2048 tokens
    assert prefill.chunks([5000]) == [[0]]
