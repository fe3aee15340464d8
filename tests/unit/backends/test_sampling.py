import torch

from selftrain_core.backends.sampling import Sampler, nucleus_draw


def _reference_nucleus(row: torch.Tensor, top_p: float) -> dict[int, float]:
    """Brute force: sort the row, keep the smallest prefix whose probability reaches top_p, renormalize."""
    values, indices = row.double().sort(descending=True)
    n = int((values.cumsum(0) - values < top_p).sum())
    kept = values[:n] / values[:n].sum()
    return {int(i): float(p) for i, p in zip(indices[:n], kept, strict=True)}


def test_draws_follow_the_nucleus_including_wide_rows():
    """Uniforms on an even grid: each token's share of the draws is its renormalized nucleus probability (to one
    grid step), no token outside the nucleus is drawn, and smaller probes (a second probe; the full sort) draw the
    same."""
    torch.manual_seed(0)
    scores = torch.randn(5, 300) * torch.tensor([[0.1], [1.0], [3.0], [8.0], [0.5]])
    probs = scores.softmax(-1)
    grid = 2000
    u = (torch.arange(grid, dtype=torch.float64) + 0.5) / grid
    for r, top_p in enumerate([0.9, 0.9, 0.5, 0.95, 0.999]):
        expected = _reference_nucleus(probs[r], top_p)
        rows = probs[r].expand(grid, -1)
        top_ps = torch.full((grid,), top_p, dtype=torch.float64)
        draws = nucleus_draw(rows, top_ps, u)
        for probes in [(4,), (4, 16), (4, 290), (16, 64, 128)]:
            assert torch.equal(draws, nucleus_draw(rows, top_ps, u, probes=probes)), probes
        counts = torch.bincount(draws, minlength=300)
        assert set(counts.nonzero().squeeze(-1).tolist()) <= set(expected)
        for token, p in expected.items():
            assert abs(int(counts[token]) - p * grid) <= 1.0, (r, token)


def test_top_p_of_one_draws_from_the_whole_vocabulary_without_sorting(monkeypatch):
    probs = torch.tensor([[0.2, 0.3, 0.5, 0.0], [0.1, 0.0, 0.6, 0.3]])
    grid = 1000
    u = (torch.arange(grid, dtype=torch.float64) + 0.5) / grid

    def no_sort(*args, **kwargs):
        raise AssertionError("sorted at top_p 1")

    monkeypatch.setattr(torch.Tensor, "sort", no_sort)
    for row in probs:
        draws = nucleus_draw(row.expand(grid, -1), torch.ones(grid, dtype=torch.float64), u)
        counts = torch.bincount(draws, minlength=4)
        assert all(abs(int(counts[t]) - float(row[t]) * grid) <= 1.0 for t in range(4))
    mixed = nucleus_draw(probs, torch.tensor([1.0, 0.5], dtype=torch.float64), torch.tensor([0.99, 0.99]).double())
    assert mixed.tolist() == [2, 2]  # the second row's nucleus at 0.5 is token 2 alone


def test_greedy_rows_take_the_argmax_and_sampled_rows_stay_in_the_nucleus():
    logprobs = torch.tensor([[0.0, 3.0, 2.9, -5.0]]).log_softmax(-1).expand(2, -1)
    rows = torch.arange(2)
    for seed in range(30):
        sampler = Sampler([0.0, 1.0], [1.0, 0.9], [seed, seed], steps=1)
        greedy, sampled = sampler.draw(logprobs.clone(), rows, 0).tolist()
        assert greedy == 1 and sampled in {1, 2}
    draws = {int(Sampler([1.0], [0.9], [s], steps=1).draw(logprobs[:1].clone(), rows[:1], 0)) for s in range(50)}
    assert draws == {1, 2}


def test_a_rows_draws_depend_on_its_seed_and_step_not_on_the_other_rows():
    torch.manual_seed(1)
    logprobs = torch.randn(4, 50).log_softmax(-1)
    sampler = Sampler([1.0, 0.7, 1.0, 1.3], [0.95, 0.9, 1.0, 0.8], [11, 12, 13, 14], steps=3)
    alone = Sampler([0.7], [0.9], [12], steps=3)
    for step in range(3):
        together = sampler.draw(logprobs, torch.arange(4), step)
        assert int(together[1]) == int(alone.draw(logprobs[1:2], torch.tensor([0]), step))
        subset = sampler.draw(logprobs[[1, 3]], torch.tensor([1, 3]), step)
        assert subset.tolist() == together[[1, 3]].tolist()
    again = Sampler([1.0, 0.7, 1.0, 1.3], [0.95, 0.9, 1.0, 0.8], [11, 12, 13, 14], steps=3)
    assert torch.equal(again.uniforms, sampler.uniforms)
    assert not torch.equal(Sampler([1.0], [1.0], [99], steps=3).uniforms[0], sampler.uniforms[0])


def test_a_temperature_other_than_one_tempers_its_row_in_a_batch_with_rows_at_one():
    """At temperature 1 the logits are not divided (x / 1 is x); a row at 0.1 in the same batch still is: its draws
    collapse onto the most likely token while the row at 1 keeps drawing the second one too."""
    logprobs = torch.tensor([[0.0, 3.0, 2.0]]).log_softmax(-1).expand(2, -1)
    draws: dict[float, set[int]] = {1.0: set(), 0.1: set()}
    for seed in range(60):
        sampler = Sampler([1.0, 0.1], [1.0, 1.0], [seed, seed], steps=1)
        at_one, cold = sampler.draw(logprobs.clone(), torch.arange(2), 0).tolist()
        draws[1.0].add(at_one)
        draws[0.1].add(cold)
    assert draws[0.1] == {1}
    assert {1, 2} <= draws[1.0]
