"""Choosing each row's next token in one batched call: greedy, or from the tempered nucleus (top-p).

A row's draw uses a uniform number from its own stream: `Sampler` draws each sampled row's uniforms for the
whole decode up front from a `torch.Generator` seeded with the row's seed, so a row's tokens depend on its seed and
its own logits only, not on which rows share its batch, and a step costs no Python call per row. The token is the
inverse CDF of the row's nucleus at that uniform (cumulative sums in float64, float32 on MPS). Nucleus: the
smallest set of most likely tokens whose probability reaches `top_p` (at top_p 1, the whole vocabulary, unsorted).
It is found among the top `probe` tokens, with a full sort only for rows whose nucleus is wider (transformers'
`TopPLogitsWarper` sorts all 49k vocabulary entries of every row at every step).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


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


def nucleus_draw(probs: torch.Tensor, top_p: torch.Tensor, u: torch.Tensor, probe: int = 256) -> torch.Tensor:
    """One token per row of `probs` [rows, vocab] from its nucleus (top_p per row) at the row's uniform u; a row
    with top_p >= 1 draws from the whole vocabulary, in vocabulary order, without sorting."""
    whole = top_p >= 1.0
    if bool(whole.all()):
        return _whole(probs, u)
    values, indices = probs.topk(min(probe, probs.shape[-1]), dim=-1)
    tokens = _inverse_cdf(values, indices, top_p, u)
    wide = (values.to(u.dtype).sum(-1) < top_p) & ~whole
    if wide.any():  # rare: the nucleus is wider than the probe; sort those rows in full
        full_values, full_indices = probs[wide].sort(dim=-1, descending=True)
        tokens[wide] = _inverse_cdf(full_values, full_indices, top_p[wide], u[wide])
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
        probe: int = 256,
    ):
        wide = torch.float32 if torch.device(device).type == "mps" else torch.float64  # MPS has no float64
        self.temperature = torch.tensor(temperatures, dtype=torch.float32, device=device)
        self.top_p = torch.tensor(top_ps, dtype=wide, device=device)
        self.greedy = self.temperature <= 0
        self.probe = probe
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
        probs = (chosen / self.temperature[picked].unsqueeze(-1)).softmax(-1)
        tokens[sampled] = nucleus_draw(probs, self.top_p[picked], self.uniforms[picked, step], self.probe)
        return tokens
