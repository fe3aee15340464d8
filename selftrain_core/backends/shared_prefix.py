"""Decoding many rows of one prompt against a single copy of the prompt's keys and values.

The answers stage decodes a prompt's greedy reference and its K samples together. With a KV cache of one row per
sample (kv_cache.py), each of those rows holds, and each decode step reads, its own copy of the prompt's keys and
values: at 32 prompts a batch, 176 rows of a 400-token prompt are ~100 MB a layer a step for SmolLM2-135M, and every
row of a batch is padded to its longest prompt. Here the prompt part of the cache is kept once per prompt
(`PrefixLayer`: [prompts, kv heads, width, dim], left-padded) and only the generated part once per row. A decode
step's attention (`attend`, registered with transformers' AttentionInterface and switched on for the decode steps
only) scores each prompt's keys against all of its rows' queries in one batched matmul, the rows' own generated
keys separately, and takes one softmax over both: the same attention as before, in another order of float sums.

It applies to decoder-only models whose attention passes extra keyword arguments through to the attention function
and whose cache is plain dynamic layers (`shares_prefix`); others decode through the per-row cache.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from transformers import AttentionInterface

from selftrain_core.backends.kv_cache import RoomyLayer

IMPLEMENTATION = "selftrain_shared_prefix"
# Architectures whose attention modules hand **kwargs to the attention function and use the standard GQA layout.
ARCHITECTURES = frozenset({"llama", "mistral", "qwen2", "qwen3"})


class PrefixLayer(RoomyLayer):
    """One layer's cache: the prompts' keys and values once per prompt (`prefix_keys`, `prefix_values`: [prompts,
    kv heads, width, dim]), and each row's generated ones in a RoomyLayer's buffer (appends, swap-remove drops)."""

    @classmethod
    def over(cls, keys: torch.Tensor, values: torch.Tensor, rows: int, steps: int) -> PrefixLayer:
        shape = (rows, keys.shape[1], max(steps, 1), keys.shape[-1])
        layer = cls.of_buffers(keys.new_empty(shape), values.new_empty(shape), 0)
        layer.prefix_keys, layer.prefix_values = keys, values
        return layer

    def get_seq_length(self) -> int:
        return self.prefix_keys.shape[-2] + self.length


@dataclass
class Sharing:
    """Which prompt each decode row continues (`owner`) and its place among that prompt's rows (`slot`); `bias`
    [prompts, width] hides each prompt's left padding; `layers` are the cache's PrefixLayers."""

    owner: torch.Tensor
    slot: torch.Tensor
    per_prompt: int
    bias: torch.Tensor
    layers: list[PrefixLayer]

    @classmethod
    def of(cls, owners: list[int], mask: torch.Tensor, layers: list[PrefixLayer]) -> Sharing:
        seen: dict[int, int] = {}
        slots = []
        for prompt in owners:
            slots.append(seen.get(prompt, 0))
            seen[prompt] = slots[-1] + 1
        device = mask.device
        bias = torch.zeros(mask.shape, dtype=layers[0].prefix_keys.dtype, device=device)
        bias.masked_fill_(mask == 0, torch.finfo(bias.dtype).min)
        owner, slot = torch.tensor(owners, device=device), torch.tensor(slots, device=device)
        return cls(owner, slot, max(seen.values()), bias, layers)

    def select(self, indices: torch.Tensor) -> None:
        self.owner, self.slot = self.owner[indices], self.slot[indices]


def shares_prefix(model) -> bool:
    """Whether the model's architecture is one whose attention `attend` can stand in for (its cache's layer types
    are the caller's to check: prefill.plain_layers)."""
    return getattr(getattr(model, "config", None), "model_type", None) in ARCHITECTURES


def _grid(rows: torch.Tensor, sharing: Sharing, prompts: int) -> torch.Tensor:
    """[rows, kv heads, rep, n] -> [prompts, kv heads, per_prompt * rep, n], each row in its prompt's slot."""
    _, heads, rep, n = rows.shape
    grid = rows.new_zeros(prompts, sharing.per_prompt, heads, rep, n)
    grid[sharing.owner, sharing.slot] = rows
    return grid.permute(0, 2, 1, 3, 4).reshape(prompts, heads, sharing.per_prompt * rep, n)


def _rows(grid: torch.Tensor, sharing: Sharing, rep: int) -> torch.Tensor:
    """The inverse of `_grid`: each row's part of its prompt's [kv heads, per_prompt * rep, n]."""
    prompts, heads, _, n = grid.shape
    return grid.view(prompts, heads, sharing.per_prompt, rep, n).permute(0, 2, 1, 3, 4)[sharing.owner, sharing.slot]


def attend(module, query, key, value, attention_mask, scaling=None, dropout=0.0, shared_prefix=None, **kwargs):
    """One decode step's attention: query [rows, heads, 1, dim]; key, value: the rows' generated part."""
    if shared_prefix is None or query.shape[2] != 1:
        raise RuntimeError("the shared-prefix attention serves the decode loop's single-token steps only")
    layer = shared_prefix.layers[module.layer_idx]
    rows, heads, _, dim = query.shape
    kv_heads = key.shape[1]
    rep = heads // kv_heads
    scale = dim**-0.5 if scaling is None else scaling
    q = query.reshape(rows, kv_heads, rep, dim).float()
    prompts, width = shared_prefix.bias.shape
    on_prompt = _grid(q, shared_prefix, prompts) @ layer.prefix_keys.float().transpose(-1, -2)  # [P, kvh, R*rep, W]
    on_prompt = on_prompt * scale + shared_prefix.bias.float()[:, None, None, :]
    on_own = (q @ key.float().transpose(-1, -2)) * scale  # [rows, kvh, rep, t]
    weights = torch.cat([_rows(on_prompt, shared_prefix, rep), on_own], dim=-1).softmax(-1)
    from_prompt = _grid(weights[..., :width], shared_prefix, prompts) @ layer.prefix_values.float()
    out = _rows(from_prompt, shared_prefix, rep) + weights[..., width:] @ value.float()
    return out.reshape(rows, 1, heads, dim).to(query.dtype), None


AttentionInterface.register(IMPLEMENTATION, attend)


@contextlib.contextmanager
def decoding_with(model):
    """Within the block, the model's attention is `attend` (prefill runs before it, with the model's own)."""
    config = model.config
    before = config._attn_implementation
    config._attn_implementation = IMPLEMENTATION
    try:
        yield
    finally:
        config._attn_implementation = before
