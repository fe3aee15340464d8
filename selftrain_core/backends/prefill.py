"""Prefilling a batch's prompts in chunks of similar length, and laying their caches out one per decode row.

Left-padding every prompt of a batch to its longest makes a 40-token question pay for a 400-token passage. Here
prompts, in order of length, are prefilled together while a chunk's padding stays under a quarter of its tokens
and its tokens under CHUNK_TOKENS (large enough for the matmuls to run near their peak). Each decode row (one of a
prompt's samples) then gets its prompt's keys and values, right-aligned in a zeroed buffer with room for the decode
(kv_cache.RoomyLayer); the attention mask hides the zeros on the left. A model whose cache is not plain dynamic
layers (a sliding window, say) is prefilled in one left-padded chunk instead, and its cache expanded to the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer

from selftrain_core.backends.kv_cache import RoomyLayer, preallocate
from selftrain_core.backends.shared_prefix import PrefixLayer, Sharing

CHUNK_TOKENS = 2048
MAX_PADDING = 0.25  # of a chunk's real tokens


@dataclass
class Prefilled:
    cache: object  # a transformers Cache with one row per decode row
    logits: torch.Tensor  # [rows, vocab]: each row's prompt's last-position logits
    attention_mask: torch.Tensor  # [rows, width], left-padded
    position: torch.Tensor  # [rows]: the position id of each row's last prompt token


def returned_cache(out):
    """The KV cache a forward pass returned, under either name (`cache` since transformers 5.2x)."""
    cache = out.get("cache")
    return cache if cache is not None else out.past_key_values


def chunks(lengths: list[int]) -> list[list[int]]:
    """Prompt indices prefilled together: consecutive in order of length, each chunk under the padding and token
    limits (a prompt longer than CHUNK_TOKENS alone)."""
    out: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: (lengths[i], i)):
        if out:
            grown = out[-1] + [i]
            padded = lengths[i] * len(grown)  # the newest is the longest
            if padded <= CHUNK_TOKENS and padded <= (1 + MAX_PADDING) * sum(lengths[j] for j in grown):
                out[-1] = grown
                continue
        out.append([i])
    return out


def _forward(model, prompts: list[list[int]], pad_id: int):
    device = model.device
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1)
    return returned_cache(out), out.logits[:, -1], mask


def _buffers(cache, rows: int, width: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Zeroed [rows, kv heads, width, dim] keys and values for each layer of `cache`, in its dtype and device."""

    def zeros(states: torch.Tensor) -> torch.Tensor:
        return states.new_zeros(rows, *states.shape[1:-2], width, states.shape[-1])

    return [(zeros(layer.keys), zeros(layer.values)) for layer in cache.layers]


def _plain(cache) -> bool:
    layers = getattr(cache, "layers", None)
    return bool(layers) and all(type(layer) is DynamicLayer and layer.is_initialized for layer in layers)


def plain_layers(model) -> bool:
    """Whether the model's own cache would be plain dynamic layers (asked of its config, before any forward)."""
    try:
        layers = DynamicCache(config=model.config).layers
    except Exception:  # a config transformers cannot build a cache from: take the one-chunk path
        return False
    return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)


def _in_one_chunk(model, prompts, pad_id, owners: torch.Tensor, steps: int) -> Prefilled:
    cache, logits, mask = _forward(model, prompts, pad_id)
    cache = preallocate(cache, mask.shape[1] + steps)
    index = owners.to(logits.device)
    if len(index) != len(prompts) or not bool((index == torch.arange(len(prompts), device=index.device)).all()):
        cache.batch_select_indices(index)
        logits, mask = logits[index], mask[index]
    return Prefilled(cache, logits, mask, mask.sum(-1) - 1)


@torch.inference_mode()
def prefill(model, prompts: list[list[int]], pad_id: int, owners: list[int], steps: int) -> Prefilled:
    """The start of a decode: row r continues prompt owners[r]; the cache has room for `steps` more tokens."""
    owner = torch.tensor(owners)
    if not plain_layers(model):
        return _in_one_chunk(model, prompts, pad_id, owner, steps)
    parts = chunks([len(p) for p in prompts])
    first = _forward(model, [prompts[i] for i in parts[0]], pad_id)
    if not _plain(first[0]):  # the config promised plain layers and the forward made others: prefill again
        return _in_one_chunk(model, prompts, pad_id, owner, steps)
    width, device = max(len(p) for p in prompts), model.device
    logits = first[1].new_empty(len(owners), first[1].shape[-1])
    mask = torch.zeros(len(owners), width, dtype=first[2].dtype, device=device)
    buffers = _buffers(first[0], len(owners), width + steps)
    for n, part in enumerate(parts):
        cache, part_logits, part_mask = first if n == 0 else _forward(model, [prompts[i] for i in part], pad_id)
        slot = {prompt: j for j, prompt in enumerate(part)}
        rows = [r for r, p in enumerate(owners) if p in slot]
        target = torch.tensor(rows, dtype=torch.long, device=device)
        source = torch.tensor([slot[owners[r]] for r in rows], dtype=torch.long, device=device)
        left = width - part_mask.shape[1]
        logits[target], mask[target, left:] = part_logits[source], part_mask[source]
        for (keys, values), layer in zip(buffers, cache.layers, strict=True):
            keys[target, ..., left:width, :] = layer.keys[source]
            values[target, ..., left:width, :] = layer.values[source]
    template = first[0]
    template.layers = [RoomyLayer.of_buffers(keys, values, width) for keys, values in buffers]
    return Prefilled(template, logits, mask, mask.sum(-1) - 1)


def width_groups(parts: list[list[int]], lengths: list[int]) -> list[list[list[int]]]:
    """Consecutive prefill chunks (in order of length) merged while the merged prompts' padding to their longest
    stays under MAX_PADDING of their tokens: the groups of prompts whose keys a decode step reads at one width."""
    groups: list[list[list[int]]] = []
    for part in parts:
        if groups:
            merged = [i for chunk in groups[-1] for i in chunk] + part
            if max(lengths[i] for i in merged) * len(merged) <= (1 + MAX_PADDING) * sum(lengths[i] for i in merged):
                groups[-1].append(part)
                continue
        groups.append([part])
    return groups


@torch.inference_mode()
def prefill_shared(model, prompts: list[list[int]], pad_id: int, owners: list[int], steps: int):
    """Like `prefill`, but each prompt's keys and values are kept once (shared_prefix.PrefixLayer), in groups of
    similar length (`width_groups`), each right-aligned in [its prompts, kv heads, its width, dim]; returns the
    Prefilled start and the rows' Sharing, or None when the forward made a cache of another kind than plain dynamic
    layers (the caller then prefills with `prefill`)."""
    lengths = [len(p) for p in prompts]
    groups = width_groups(chunks(lengths), lengths)
    order = [i for group in groups for part in group for i in part]  # the cache's order of prompts
    logits, template, grouped, device = None, None, [], model.device
    for group in groups:
        group_width, buffers, offset = lengths[group[-1][-1]], [], 0  # chunks run in order of length
        for part in group:
            cache, part_logits, part_mask = _forward(model, [prompts[i] for i in part], pad_id)
            if template is None:
                if not _plain(cache):
                    return None
                template = cache
                logits = part_logits.new_empty(len(prompts), part_logits.shape[-1])
            if not buffers:
                buffers = _buffers(cache, sum(len(p) for p in group), group_width)
            logits[torch.tensor(part, dtype=torch.long, device=device)] = part_logits
            target, left = slice(offset, offset + len(part)), group_width - part_mask.shape[1]  # parts laid in order
            for (keys, values), layer in zip(buffers, cache.layers, strict=True):
                keys[target, ..., left:, :] = layer.keys
                values[target, ..., left:, :] = layer.values
            offset += len(part)
        grouped.append(buffers)
    template.layers = [
        PrefixLayer.over([g[n][0] for g in grouped], [g[n][1] for g in grouped], len(owners), steps)
        for n in range(len(grouped[0]))
    ]
    place = {prompt: n for n, prompt in enumerate(order)}
    sharing = Sharing.of([place[p] for p in owners], [lengths[i] for i in order], template.layers)
    index, width = torch.tensor(owners, dtype=torch.long, device=device), max(lengths)
    length = torch.tensor(lengths, device=device)[index]
    mask = (torch.arange(width, device=device) >= width - length.unsqueeze(-1)).long()  # each row's prompt, left-padded
    return Prefilled(template, logits[index], mask, length - 1), sharing
