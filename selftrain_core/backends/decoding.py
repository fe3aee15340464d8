"""A decode loop over a transformers causal LM that drops finished sequences from the batch.

Why not `model.generate`: generate keeps computing every sequence until the longest one ends, so a batch of 40
samples where one runs to `max_tokens` costs 40 full-length sequences; sampled answers end at about two thirds of
the cap. Here finished rows leave the KV cache at once (kv_cache.py). Each prompt is prefilled once (prefill.py)
and its cache given to all of its rows, which may belong to several requests with their own settings (the answers
stage's greedy reference and its K samples with the document read the same prompt); when prompts have several rows,
the rows keep one copy of their prompt's keys and values (shared_prefix.py). Each sampled row draws from its
own random stream (sampling.py), so a sample does not depend on which other rows share its batch.
"""

from __future__ import annotations

import contextlib
import inspect
from dataclasses import dataclass, field

import torch

from selftrain_core.backends.kv_cache import compaction
from selftrain_core.backends.prefill import plain_layers, prefill, prefill_shared, returned_cache
from selftrain_core.backends.sampling import Sampler
from selftrain_core.backends.shared_prefix import decoding_with, shares_prefix

SHARED_ROWS_PER_PROMPT = 2


@dataclass
class Sequence:
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    finish_reason: str = "length"


@dataclass(frozen=True)
class Row:
    """One output sequence: which prompt it continues (its index in the batch) and how it is decoded."""

    prompt: int
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0


def cache_argument(model) -> str:
    """The forward argument that takes the KV cache: `cache` since transformers renamed it (5.2x; the old
    `past_key_values` goes in 5.40), else `past_key_values`. A PEFT model is asked about its base model."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(type(base).forward).parameters else "past_key_values"


@torch.inference_mode()
def decode(model, prompts: list[list[int]], pad_id: int, rows: list[Row], stop_ids: list[int]) -> list[Sequence]:
    """Prompts (token ids) -> one sequence per row, each with its tokens and logprobs.

    Logprobs are the model's own (log-softmax of the raw logits). A row ends at a stop id (finish "stop", the id
    not kept) or at its own max_tokens (finish "length").
    """
    device = model.device
    steps = max(row.max_tokens for row in rows)
    owners = [row.prompt for row in rows]
    # Rows of one prompt share its keys and values when prompts have several rows; with one row a prompt (greedy
    # requests) nothing is shared and the grouped attention ran 7% slower than the per-row cache
    # (bench/results/batch_size.md).
    shared = None
    if len(rows) >= SHARED_ROWS_PER_PROMPT * len(prompts) and shares_prefix(model) and plain_layers(model):
        shared = prefill_shared(model, prompts, pad_id, owners, steps)
    start, sharing = shared if shared is not None else (prefill(model, prompts, pad_id, owners, steps), None)
    cache, logits, attention_mask, position = start.cache, start.logits, start.attention_mask, start.position
    cache_kw = cache_argument(model)
    sampler = Sampler(
        [r.temperature for r in rows], [r.top_p for r in rows], [r.seed for r in rows], steps, device=device
    )
    limits = torch.tensor([row.max_tokens for row in rows], device=device)
    tokens = torch.zeros(len(rows), steps, dtype=torch.long, device=device)
    logprobs_out = torch.zeros(len(rows), steps, device=device)
    lengths = torch.zeros(len(rows), dtype=torch.long, device=device)
    stopped_rows = torch.zeros(len(rows), dtype=torch.bool, device=device)
    active = torch.arange(len(rows), device=device)
    stops = torch.tensor(stop_ids, device=device)
    with decoding_with(model) if sharing is not None else contextlib.nullcontext():
        for step in range(steps):
            logprobs = logits.float().log_softmax(-1)
            chosen = sampler.draw(logprobs, active, step)
            tokens[active, step] = chosen
            logprobs_out[active, step] = logprobs.gather(-1, chosen.unsqueeze(-1)).squeeze(-1)
            stopped = torch.isin(chosen, stops)
            stopped_rows[active] = stopped
            lengths[active] = step + 1 - stopped.long()
            done = stopped | (step + 1 >= limits[active])
            if bool(done.all()):
                break
            if bool(done.any()):
                keep = compaction(done)
                cache.batch_select_indices(keep)
                active, chosen, position = active[keep], chosen[keep], position[keep]
                if sharing is not None:
                    sharing.select(keep)
                else:
                    attention_mask = attention_mask[keep]
            position = position + 1
            if sharing is not None:  # the attention reads the prompts' padding from `sharing`: no mask to build
                inputs = {"shared_prefix": sharing}
            else:
                attention_mask = torch.cat([attention_mask, attention_mask.new_ones(len(active), 1)], dim=-1)
                inputs = {"attention_mask": attention_mask}
            out = model(
                input_ids=chosen.unsqueeze(-1),
                position_ids=position.unsqueeze(-1),
                use_cache=True,
                **inputs,
                **{cache_kw: cache},
            )
            cache, logits = returned_cache(out), out.logits[:, -1]
    return [
        Sequence(t[:n], lp[:n], "stop" if s else "length")
        for t, lp, n, s in zip(
            tokens.tolist(), logprobs_out.tolist(), lengths.tolist(), stopped_rows.tolist(), strict=True
        )
    ]
