"""A decode loop over a transformers causal LM that drops finished sequences from the batch.

Why not `model.generate`: generate keeps computing every sequence until the longest one ends, so a batch of 40
samples where one runs to `max_tokens` costs 40 full-length sequences; sampled answers end at about two thirds of
the cap. Here finished rows leave the KV cache at once. Each prompt is prefilled once and its cache shared by its
n samples, and each sample draws from its own `torch.Generator` seeded from (request seed, sample index), so a
sample does not depend on which other requests share its batch.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import torch

from selftrain_core.backends.kv_cache import preallocate
from selftrain_core.backends.sampling import sample_tokens


@dataclass
class Sequence:
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    finish_reason: str = "length"


def cache_argument(model) -> str:
    """The forward argument that takes the KV cache: `cache` since transformers renamed it (5.2x; the old
    `past_key_values` goes in 5.40), else `past_key_values`. A PEFT model is asked about its base model."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(type(base).forward).parameters else "past_key_values"


def returned_cache(out):
    """The KV cache a forward pass returned, under either name."""
    cache = out.get("cache")
    return cache if cache is not None else out.past_key_values


@torch.inference_mode()
def decode(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    n: int,
    max_tokens: int,
    temperature: float,
    top_p: float,
    seeds: list[int],
    stop_ids: list[int],
) -> list[Sequence]:
    """Left-padded prompts [P, W] -> P * n sequences (prompt-major), each with its tokens and logprobs.

    `seeds` holds one seed per output sequence. Logprobs are the model's own (log-softmax of the raw logits).
    """
    positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    out = model(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=positions, use_cache=True, logits_to_keep=1
    )
    cache, logits = preallocate(returned_cache(out), input_ids.shape[1] + max_tokens), out.logits[:, -1]
    cache_kw = cache_argument(model)
    if n > 1:
        cache.batch_repeat_interleave(n)
        logits, attention_mask = logits.repeat_interleave(n, 0), attention_mask.repeat_interleave(n, 0)
        positions = positions.repeat_interleave(n, 0)
    position = positions[:, -1]
    generators = [torch.Generator(device=input_ids.device).manual_seed(seed) for seed in seeds]
    sequences = [Sequence() for _ in seeds]
    active = torch.arange(len(seeds))
    stops = torch.tensor(stop_ids, device=input_ids.device)
    for step in range(max_tokens):
        logprobs = logits.float().log_softmax(-1)
        chosen = sample_tokens(logprobs, temperature, top_p, [generators[r] for r in active.tolist()]).to(logits.device)
        chosen_logprobs = logprobs.gather(-1, chosen.unsqueeze(-1)).squeeze(-1).tolist()
        stopped = torch.isin(chosen, stops)
        for i, row in enumerate(active.tolist()):
            if stopped[i]:
                sequences[row].finish_reason = "stop"
            else:
                sequences[row].tokens.append(int(chosen[i]))
                sequences[row].logprobs.append(chosen_logprobs[i])
        if step == max_tokens - 1 or bool(stopped.all()):
            break
        if stopped.any():
            keep = (~stopped).nonzero().squeeze(-1)
            cache.batch_select_indices(keep)
            active, chosen, attention_mask, position = (
                active[keep.cpu()],
                chosen[keep],
                attention_mask[keep],
                position[keep],
            )
        attention_mask = torch.cat([attention_mask, attention_mask.new_ones(len(active), 1)], dim=-1)
        position = position + 1
        out = model(
            input_ids=chosen.unsqueeze(-1),
            attention_mask=attention_mask,
            position_ids=position.unsqueeze(-1),
            use_cache=True,
            **{cache_kw: cache},
        )
        cache, logits = returned_cache(out), out.logits[:, -1]
    return sequences
