"""Choosing each row's next token in one batched call: greedy, or from the tempered nucleus (top-p).

A row's draw uses a uniform number from its own stream: `Sampler` draws each sampled row's uniforms for the
whole decode up front from a `torch.Generator` seeded with the row's seed, so a row's tokens depend on its seed and
its own logits only, not on which rows share its batch, and a step costs no Python call per row. The token is the
inverse CDF of the row's nucleus at that uniform (cumulative sums in float64, float32 on MPS). Nucleus: the
smallest set of most likely tokens whose probability reaches `top_p` (at top_p 1, the whole vocabulary, unsorted).
It is found among each row's top `probes[0]` tokens, then, for the rows whose nucleus is wider, among their top
`probes[1]`, and so on, with a full sort only for rows wider than the last probe (transformers' `TopPLogitsWarper`
sorts all 49k vocabulary entries of every row at every step). At temperature 1 and top-p 0.95, SmolLM2-135M's nucleus
was wider than 256 tokens in 30% of the answers stage's draws and wider than 4096 in 0.4% (largest 5512): with one
probe, a full sort of those rows was 5% of the stage's time; the top 4096 of 13 rows cost 6.5 ms, their sort 37.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

PROBES = (256, 4096)


def _inverse_cdf(values: torch.Tensor, indices: torch.Tensor, top_p: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """One token per row from probabilities sorted in descending order (`values`, vocabulary ids `indices`):
    the nucleus is the sorted prefix up to and including the first token whose cumulative probability reaches
    top_p; the token is where u (in [0, 1)) times the nucleus's mass falls in its cumulative sum."""
    values = values.to(u.dtype)
    cumulative = values.cumsum(-1)
    kept = (cumulative - values) < top_p.unsqueeze(-1)  # probability before the token is under top_p
    mass = torch.where(kept, cumulative, torch.zeros_like(cumulative)).amax(-1)
    position = torch.searchsorted(cumulative, (u * mass).unsqueeze(-1), right=True)
    position = torch.minimum(position, kept.sum(-1, keepdim=True) - 1)
    return indices.gather(-1, position).squeeze(-1)


def nucleus_draw(
    probs: torch.Tensor, top_p: torch.Tensor, u: torch.Tensor, probes: Sequence[int] = PROBES
) -> torch.Tensor:
    """One token per row of `probs` [rows, vocab] from its nucleus (top_p per row) at the row's uniform u; a row
    with top_p >= 1 draws from the whole vocabulary, in vocabulary order, without sorting. `probes`: the growing
    numbers of most likely tokens searched for a row's nucleus before a full sort."""
    whole = top_p >= 1.0
    if bool(whole.all()):
        return _whole(probs, u)
    vocab = probs.shape[-1]
    sizes: list[int | None] = sorted({min(p, vocab) for p in probes})
    if not sizes or sizes[-1] < vocab:
        sizes.append(None)  # rare: the nucleus is wider than every probe; sort those rows in full
    tokens = torch.zeros(len(probs), dtype=torch.long, device=probs.device)
    pending = (~whole).nonzero().squeeze(-1)
    for size in sizes:
        rows = probs if len(pending) == len(probs) else probs[pending]  # no copy while every row is pending
        values, indices = rows.sort(dim=-1, descending=True) if size is None else rows.topk(size, dim=-1)
        tokens[pending] = _inverse_cdf(values, indices, top_p[pending], u[pending])
        if size is None or size == vocab:
            break
        pending = pending[values.to(u.dtype).sum(-1) < top_p[pending]]
        if len(pending) == 0:
            break
    if whole.any():
        tokens[whole] = _whole(probs[whole], u[whole])
    return tokens


def _whole(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    cumulative = probs.to(u.dtype).cumsum(-1)
    position = torch.searchsorted(cumulative, (u * cumulative[:, -1]).unsqueeze(-1), right=True)
    return position.clamp(max=probs.shape[-1] - 1).squeeze(-1)


class Sampler:
    """The sampling settings and random streams of a decode's rows (row r: temperature[r], top_p[r], seeds[r]);
    a temperature of 0 is greedy (argmax, no randomness)."""

    def __init__(
        self,
        temperatures: Sequence[float],
        top_ps: Sequence[float],
        seeds: Sequence[int],
        steps: int,
        device: torch.device | str = "cpu",
        probes: Sequence[int] = PROBES,
    ):
        wide = torch.float32 if torch.device(device).type == "mps" else torch.float64  # MPS has no float64
        self.temperature = torch.tensor(temperatures, dtype=torch.float32, device=device)
        self.top_p = torch.tensor(top_ps, dtype=wide, device=device)
        self.greedy = self.temperature <= 0
        # x / 1 is x exactly: at temperature 1 (the answers stage's samples) the division is skipped, a pass over
        # every sampled row's 49k logits a step (bench/results/revision_ab.md)
        self.untempered = all(t <= 0 or t == 1 for t in temperatures)
        self.probes = tuple(probes)
        self.uniforms = torch.zeros(len(seeds), steps, dtype=torch.float64)
        for row, seed in enumerate(seeds):
            if temperatures[row] > 0:
                self.uniforms[row] = torch.rand(
                    steps, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
                )
        self.uniforms = self.uniforms.to(device=device, dtype=wide)

    def draw(self, logprobs: torch.Tensor, rows: torch.Tensor, step: int) -> torch.Tensor:
        """The next token of each of `rows` (the rows' numbers, matching logprobs [len(rows), vocab])."""
        tokens = logprobs.argmax(-1)
        sampled = (~self.greedy[rows]).nonzero().squeeze(-1)
        if len(sampled) == 0:
            return tokens
        picked = rows[sampled]
        chosen = logprobs if len(sampled) == len(rows) else logprobs[sampled]  # no copy when every row samples
        probs = (chosen if self.untempered else chosen / self.temperature[picked].unsqueeze(-1)).softmax(-1)
        tokens[sampled] = nucleus_draw(probs, self.top_p[picked], self.uniforms[picked, step], self.probes)
        return tokens
