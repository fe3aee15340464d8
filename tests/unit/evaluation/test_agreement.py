"""Judge-scorer agreement: Cohen's kappa equals scikit-learn's, and the rows pair each question's scorer label
with the judge's verdict on it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from selftrain_core.stages.evaluate.agreement import agreement_rows, bootstrap_kappa, cohen_kappa


@pytest.mark.parametrize("seed", range(5))
def test_kappa_equals_scikit_learns(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.random(40) < 0.4, rng.random(40) < 0.6
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
    assert cohen_kappa(a, a) == pytest.approx(1.0) and cohen_kappa(a, ~a) < 0


def test_kappa_is_undefined_when_both_labels_are_constant_and_has_no_interval():
    assert math.isnan(cohen_kappa([True] * 5, [True] * 5))
    value, low, high = bootstrap_kappa([True] * 5, [True] * 5, 100, 0.95, 0)
    assert math.isnan(value) and low is None and high is None


def test_the_interval_holds_the_value():
    rng = np.random.default_rng(1)
    a = rng.random(60) < 0.5
    b = np.where(rng.random(60) < 0.8, a, ~a)  # agree on about 80%
    value, low, high = bootstrap_kappa(a, b, 500, 0.95, 0)
    assert low <= value <= high and 0.2 < value < 0.9


def test_rows_pair_the_scorer_label_with_the_judges_verdict_per_set_and_arm():
    rows = [
        {"set": "held_out", "question_id": f"q{i}", "model": "base", "s_k": s}
        for i, s in enumerate([0.1, 0.2, 0.9, 0.95, float("nan")])
    ]
    outcomes = ["trained", "trained", "base", "tie", "trained"]  # agrees on all four scored questions
    verdicts = [
        {"set": "held_out", "arm": "trained", "question_id": f"q{i}", "outcome": o} for i, o in enumerate(outcomes)
    ]
    out = {r["metric"]: r for r in agreement_rows(rows, verdicts, 0.75, 200, 0.95, 0)}
    assert out["scorer_kappa"]["value"] == pytest.approx(1.0) and out["scorer_kappa"]["n"] == 4
    assert out["scorer_agreement"]["value"] == 1.0 and out["scorer_kappa"]["model"] == "judge:trained"
