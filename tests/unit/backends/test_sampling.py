import torch

from selftrain_core.backends.sampling import NucleusSampler


def _reference_nucleus(scores: torch.Tensor, top_p: float) -> torch.Tensor:
    """Brute force: sort each row, keep the smallest prefix whose probability reaches top_p."""
    keep = torch.zeros_like(scores, dtype=torch.bool)
    for r, row in enumerate(scores.softmax(-1)):
        values, indices = row.sort(descending=True)
        n = int((values.cumsum(0) < top_p).sum()) + 1
        keep[r, indices[:n]] = True
    return keep


def test_nucleus_matches_brute_force_including_wide_rows():
    torch.manual_seed(0)
    scores = torch.randn(6, 500) * torch.tensor([[0.1], [1.0], [3.0], [8.0], [0.5], [2.0]])
    for probe in (4, 64, 500):  # a small probe forces the full-sort fallback on flat rows
        out = NucleusSampler(temperature=1.0, top_p=0.9, probe=probe)(torch.zeros(6, 1, dtype=torch.long), scores)
        assert torch.equal(torch.isfinite(out), _reference_nucleus(scores, 0.9)), probe
        assert torch.allclose(out[torch.isfinite(out)], scores[torch.isfinite(out)])


def test_temperature_scales_and_logprobs_are_recorded_per_step():
    scores = torch.tensor([[0.0, 1.0, 2.0]])
    sampler = NucleusSampler(temperature=0.5, top_p=1.0)
    out = sampler(torch.zeros(1, 1, dtype=torch.long), scores)
    assert torch.allclose(out, scores / 0.5)
    sampler(torch.tensor([[0, 2]]), scores)  # token 2 was chosen at step 1
    logprobs = sampler.token_logprobs(torch.tensor([1]))  # token 1 at step 2
    expected = scores.log_softmax(-1)[0]
    assert torch.allclose(logprobs, torch.stack([expected[2], expected[1]]).unsqueeze(0))
