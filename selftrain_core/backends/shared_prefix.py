"""Decoding many rows of one prompt against a single copy of the prompt's keys and values.

The answers stage decodes a prompt's greedy reference and its K samples together. With a KV cache of one row per
sample (kv_cache.py), each of those rows holds, and each decode step reads, its own copy of the prompt's keys and
values: at 32 prompts a batch, 176 rows of a 400-token prompt are ~100 MB a layer a step for SmolLM2-135M, and every
row of a batch is padded to its longest prompt. Here the prompt part of the cache is kept once per prompt, in
groups of prompts of similar length (`PrefixLayer`: [a group's prompts, kv heads, its width, dim], left-padded: a
40-token question is not padded to a 400-token passage) and only the generated part once per row. A decode step's
attention (`attend`, registered with transformers' AttentionInterface and switched on for the decode steps only)
scores each group's prompts' keys against all of their rows' queries in one kernel call, the rows' own generated
keys in another, and weighs both parts as one softmax would: the same attention as before, in another order of
float sums. On a CPU the kernel is PyTorch's flash attention; the parts are joined by their log-sum-exps.

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
# (output, log-sum-exp) of a scaled dot-product attention on CPU; a private ATen op, absent from some builds.
_FLASH_CPU = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)


class PrefixLayer(RoomyLayer):
    """One layer's cache: the prompts' keys and values once per prompt, in groups of similar length
    (`prefix_keys[g]`, `prefix_values[g]`: [the group's prompts, kv heads, its width, dim]), and each row's generated
    ones in a RoomyLayer's buffer (appends, swap-remove drops)."""

    @classmethod
    def over(cls, keys: list[torch.Tensor], values: list[torch.Tensor], rows: int, steps: int) -> PrefixLayer:
        shape = (rows, keys[0].shape[1], max(steps, 1), keys[0].shape[-1])
        layer = cls.of_buffers(keys[0].new_empty(shape), values[0].new_empty(shape), 0)
        layer.prefix_keys, layer.prefix_values = keys, values
        return layer

    def get_seq_length(self) -> int:
        return max(keys.shape[-2] for keys in self.prefix_keys) + self.length


@dataclass
class Sharing:
    """Which prompt each decode row continues (`owner`, the prompt's place in the cache's order) and its place among
    that prompt's rows (`slot`); `groups` are the prompts' [start, end) in that order, one per width group, with
    `masks` [group's prompts, 1, 1, width] hiding each prompt's left padding (None for a group without padding);
    `layers` are the cache's PrefixLayers."""

    owner: torch.Tensor
    slot: torch.Tensor
    per_prompt: int
    groups: list[tuple[int, int]]
    masks: list[torch.Tensor | None]
    layers: list[PrefixLayer]

    @classmethod
    def of(cls, owners: list[int], lengths: list[int], layers: list[PrefixLayer]) -> Sharing:
        """`owners`: each row's prompt, `lengths`: each prompt's tokens, both in the cache's order of prompts."""
        seen: dict[int, int] = {}
        slots = []
        for prompt in owners:
            slots.append(seen.get(prompt, 0))
            seen[prompt] = slots[-1] + 1
        groups, masks, start = [], [], 0
        for keys in layers[0].prefix_keys:
            end, width = start + keys.shape[0], keys.shape[-2]
            padding = torch.tensor([width - n for n in lengths[start:end]], device=keys.device)
            mask = None
            if bool(padding.any()):
                hidden = torch.arange(width, device=keys.device) < padding.unsqueeze(-1)
                mask = torch.zeros(hidden.shape, dtype=keys.dtype, device=keys.device)
                mask = mask.masked_fill_(hidden, torch.finfo(keys.dtype).min)[:, None, None, :]
            groups.append((start, end))
            masks.append(mask)
            start = end
        device = layers[0].prefix_keys[0].device
        owner, slot = torch.tensor(owners, device=device), torch.tensor(slots, device=device)
        return cls(owner, slot, max(seen.values()), groups, masks, layers)

    @property
    def prompts(self) -> int:
        return self.groups[-1][1]

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
    q = query.reshape(rows, kv_heads, rep, dim)
    kernel = _FLASH_CPU if query.device.type == "cpu" and _FLASH_CPU is not None else _in_float32
    out = _in_two_parts(q, key, value, layer, shared_prefix, scale, kernel)
    return out.reshape(rows, 1, heads, dim).to(query.dtype), None


def _in_float32(query, key, value, attn_mask=None, scale=1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(output, log-sum-exp) of a scaled dot-product attention in float32, where PyTorch's CPU flash kernel does not
    run (another device, or a torch build without it); the flash kernel's signature and results."""
    scores = (query.float() @ key.float().transpose(-1, -2)) * scale
    if attn_mask is not None:
        scores = scores + attn_mask.float()
    lse = scores.logsumexp(-1)
    return (scores - lse.unsqueeze(-1)).exp() @ value.float(), lse


def _in_two_parts(q, key, value, layer, sharing: Sharing, scale: float, kernel) -> torch.Tensor:
    """[rows, kv heads, rep, dim] in float32: `kernel`'s attention over the prompt (all of a prompt's rows' queries at
    once, one call per width group) and over the row's own keys, each with its log-sum-exp, joined as one softmax
    would weigh them. On a CPU the kernel is PyTorch's flash attention, which reads bf16 keys as they are where a
    single softmax over both parts converted every prompt's keys and values to float32 at every layer and step: the
    answers stage's decode 1.17x faster in bfloat16, 1.04x in float32 (bench/results/revision_ab.md)."""
    rep = q.shape[2]
    grid = _grid(q, sharing, sharing.prompts)
    parts = [
        kernel(grid[start:end], keys, values, attn_mask=mask, scale=scale)
        for (start, end), mask, keys, values in zip(
            sharing.groups, sharing.masks, layer.prefix_keys, layer.prefix_values, strict=True
        )
    ]
    from_prompt = parts[0][0] if len(parts) == 1 else torch.cat([out for out, _ in parts])
    prompt_lse = parts[0][1] if len(parts) == 1 else torch.cat([lse for _, lse in parts])
    from_own, own_lse = kernel(q, key, value, scale=scale)
    from_prompt = _rows(from_prompt, sharing, rep).float()
    prompt_lse = _rows(prompt_lse.unsqueeze(-1), sharing, rep)
    own_lse = own_lse.unsqueeze(-1)
    top = torch.maximum(prompt_lse, own_lse)
    prompt_weight, own_weight = (prompt_lse - top).exp(), (own_lse - top).exp()
    return (from_prompt * prompt_weight + from_own.float() * own_weight) / (prompt_weight + own_weight)


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
