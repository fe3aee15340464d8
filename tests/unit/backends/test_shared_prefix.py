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
    layer = shared_prefix.PrefixLayer.over([prefix, prefix[:1, :, :2]], [prefix, prefix[:1, :, :2]], rows=4, steps=3)
    for step in range(2):
        layer.update(torch.arange(4.0).view(4, 1, 1, 1).expand(4, 1, 1, 2) + 10 * step, torch.zeros(4, 1, 1, 2))
    layer.batch_select_indices(torch.tensor([0, 3, 2]))  # swap-remove of row 1: in place
    assert layer.keys[:, 0, :, 0].tolist() == [[0, 10], [3, 13], [2, 12]]
    layer.batch_select_indices(torch.tensor([2, 0]))  # a reorder: copied
    assert layer.keys[:, 0, :, 0].tolist() == [[2, 12], [0, 10]]
    assert layer.get_seq_length() == 3 + 2, "the widest group's prompts and the generated part"


def test_prompts_of_similar_length_share_a_width():
    lengths = [40, 500, 41, 510, 42, 520, 530, 540]
    parts = prefill.chunks(lengths)
    assert parts == [[0, 2, 4], [1, 3, 5], [6, 7]], "the long prompts' prefill is cut at CHUNK_TOKENS"
    # the long prompts decode at one width (40 padding tokens of 2600), the short ones at their own
    assert prefill.width_groups(parts, lengths) == [[[0, 2, 4]], [[1, 3, 5], [6, 7]]]
    assert prefill.width_groups([[0], [1]], [10, 100]) == [[[0]], [[1]]]


def test_each_width_group_is_padded_to_its_own_longest_prompt(backend):
    texts = ["Why?", "Who?", "A longer question about many things? " * 20]
    tokenizer = backend.tokenizer
    requests = [ChatRequest(request_id=str(i), messages=[{"role": "user", "content": t}]) for i, t in enumerate(texts)]
    prompts = [backend._prompt_ids(r) for r in requests]
    owners = [0, 0, 1, 1, 2, 2]
    start, sharing = prefill.prefill_shared(backend.model, prompts, tokenizer.pad_token_id, owners, steps=4)
    layer = sharing.layers[0]
    assert [k.shape[-2] for k in layer.prefix_keys] == [max(map(len, prompts[:2])), len(prompts[2])]
    assert sharing.groups == [(0, 2), (2, 3)]
    assert sharing.masks[1] is None, "a group of one prompt has no padding"
    assert start.position.tolist() == [len(prompts[p]) - 1 for p in owners]


def _attention_inputs(dtype: torch.dtype, generated: int):
    """A layer of 3 prompts in two width groups (prompts 0 and 1 left-padded to 7 positions, prompt 2 alone at 2;
    prompt 1 has 4 rows, 0 and 2 one each, one slot empty), 2 KV heads of 4 query heads, and `generated` own keys a
    row."""
    torch.manual_seed(0)
    kv_heads, heads, dim, lengths, owners = 2, 4, 8, [4, 7, 2], [1, 0, 1, 2, 1, 1]
    keys, values = (
        [torch.randn(2, kv_heads, 7, dim, dtype=dtype), torch.randn(1, kv_heads, 2, dim, dtype=dtype)] for _ in range(2)
    )
    layer = shared_prefix.PrefixLayer.over(keys, values, rows=len(owners), steps=4)
    sharing = shared_prefix.Sharing.of(owners, lengths, [layer])
    query = torch.randn(len(owners), heads, 1, dim, dtype=dtype)
    own_keys, own_values = (torch.randn(len(owners), kv_heads, generated, dim, dtype=dtype) for _ in range(2))
    return query, own_keys, own_values, sharing, lengths


def _reference(query, own_keys, own_values, sharing, lengths):
    """The attention written out: each row's heads over its prompt's unpadded keys and its own, in float64."""
    layer, out = sharing.layers[0], torch.zeros(query.shape, dtype=torch.float64)
    rep = query.shape[1] // own_keys.shape[1]
    for row, prompt in enumerate(sharing.owner.tolist()):
        group = next(g for g, (start, end) in enumerate(sharing.groups) if start <= prompt < end)
        local = prompt - sharing.groups[group][0]
        prompt_keys, prompt_values = layer.prefix_keys[group][local], layer.prefix_values[group][local]
        real = slice(prompt_keys.shape[-2] - lengths[prompt], None)  # left-padded
        for head in range(query.shape[1]):
            kv = head // rep
            keys = torch.cat([prompt_keys[kv, real], own_keys[row, kv]]).double()
            values = torch.cat([prompt_values[kv, real], own_values[row, kv]]).double()
            weights = (keys @ query[row, head, 0].double() / query.shape[-1] ** 0.5).softmax(-1)
            out[row, head, 0] = weights @ values
    return out.permute(0, 2, 1, 3)  # [rows, 1, heads, dim], as attention functions return it


class _Module:
    layer_idx = 0


@pytest.mark.parametrize("generated", [1, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_both_attention_kernels_compute_the_attention_over_prompt_and_own_keys(dtype, generated, monkeypatch):
    *inputs, lengths = _attention_inputs(dtype, generated)
    expected = _reference(*inputs, lengths)
    if shared_prefix._FLASH_CPU is None:
        pytest.skip("no CPU flash kernel in this torch: every path takes the float32 kernel (the decode tests run it)")
    took = []
    for name in ("_FLASH_CPU", "_in_float32"):
        original = getattr(shared_prefix, name)
        monkeypatch.setattr(shared_prefix, name, lambda *a, _f=original, _n=name, **kw: took.append(_n) or _f(*a, **kw))
    flash, _ = shared_prefix.attend(_Module(), *inputs[:3], None, shared_prefix=inputs[3])
    assert set(took) == {"_FLASH_CPU"}, "a CPU tensor takes the flash kernel when torch has it"
    monkeypatch.setattr(shared_prefix, "_FLASH_CPU", None)  # a torch build without the CPU flash kernel
    took.clear()
    plain, _ = shared_prefix.attend(_Module(), *inputs[:3], None, shared_prefix=inputs[3])
    assert took == ["_in_float32"] * 3, "two width groups and the own keys"
    tolerance = 1e-5 if dtype == torch.float32 else 2e-2  # half dtypes: the output's own rounding (8 or 11 bits)
    for out in (flash, plain):
        assert out.dtype == dtype and out.shape == expected.shape
        assert torch.allclose(out.double(), expected, atol=tolerance, rtol=tolerance)
