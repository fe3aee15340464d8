import math

import pytest

from selftrain_core.stages.evaluate.metrics import bootstrap_ci, containment, token_f1


def test_token_f1_squad_style():
    assert token_f1("The Eiffel Tower!", "eiffel tower") == 1.0
    assert token_f1("Paris", "Lyon") == 0.0
    assert token_f1("Paris France", "Paris") == pytest.approx(2 / 3)
    assert token_f1("", "") == 1.0 and token_f1("x", "") == 0.0


def test_containment():
    assert containment("It is Paris, in France.", "Paris France") == 1.0
    assert containment("Lyon", "Paris France") == 0.0


def test_bootstrap_ci_brackets_the_mean_and_is_reproducible():
    values = [0, 1] * 20
    mean, low, high = bootstrap_ci(values, samples=500, seed=3)
    assert mean == 0.5 and low < 0.5 < high
    assert bootstrap_ci(values, samples=500, seed=3) == (mean, low, high)
    assert bootstrap_ci([1.0] * 5) == (1.0, 1.0, 1.0)
    assert all(math.isnan(v) for v in bootstrap_ci([]))


def test_auroc_matches_pairwise_counting_with_ties_and_its_interval_contains_it():
    from selftrain_core.stages.evaluate.metrics import auroc, bootstrap_auroc

    scores, labels = [0.9, 0.8, 0.8, 0.3, 0.1, 0.5], [True, True, False, False, False, True]
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    expected = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))
    assert auroc(scores, labels) == pytest.approx(expected)
    value, low, high = bootstrap_auroc(scores, labels, 200, 0.9, 0)
    assert value == pytest.approx(expected) and low <= value <= high
    assert math.isnan(auroc([0.1, 0.2], [True, True]))


def test_auroc_equals_scikit_learns_on_random_scores_with_many_ties():
    """The hand-written AUROC (no sklearn dependency at run time) is sklearn's roc_auc_score, ties included."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from selftrain_core.stages.evaluate.metrics import auroc

    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(2, 60))
        scores = rng.integers(0, 5, size=n) / 4  # five values: ties everywhere
        labels = rng.random(n) < 0.4
        if labels.all() or not labels.any():
            continue
        assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
