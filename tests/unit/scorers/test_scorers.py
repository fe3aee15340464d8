"""Every scorer on tiny local models: the interface, agreement orientation and the bad-input rules."""

import math

import pytest

from selftrain_core.scorers import SCORERS
from selftrain_core.scorers.base import ScoreInput
from tests.unit.scorers.conftest import ITEMS

CONFIGS = [
    ("embedding-agreement", {}),
    ("selfcheck-nli", {}),
    ("selfcheck-prompt", {}),
    ("bsdetector", {}),
    ("bsdetector", {"consistency": "nli"}),
    ("semantic-entropy", {}),
    ("semantic-entropy", {"consistency": "nli"}),
    ("predictive-entropy", {}),
    ("self-reward", {}),
]


def test_every_registered_scorer_is_tested():
    assert {name for name, _ in CONFIGS} == set(SCORERS)


@pytest.mark.parametrize(("name", "settings"), CONFIGS)
def test_defined_scores_for_good_and_bad_input(name, settings, open_scorer):
    scorer = open_scorer(name, **settings)
    results = dict(zip(ITEMS, scorer.score(list(ITEMS.values())), strict=True))
    assert scorer.scorer_id == name and scorer.version >= 1
    for key, res in results.items():
        item = ITEMS[key]
        assert len(res.per_sample) == len(item.samples), key
        assert all(0.0 <= v <= 1.0 and math.isfinite(v) for v in res.per_sample), key
        assert 0.0 <= res.score <= 1.0 and math.isfinite(res.score), key
    assert results["empty_samples"].per_sample[:2] == [0.0, 0.0]
    assert "empty_sample" in results["empty_samples"].flags
    assert results["no_samples"].score == 0.0 and results["no_samples"].per_sample == []
    assert results["empty_reference"].score == 0.0 and results["empty_reference"].per_sample == [0.0, 0.0]
    assert "empty_reference" in results["empty_reference"].flags
    assert "single_sample" in results["single_sample"].flags
    # one call or item by item: the same scores
    alone = scorer.score([ITEMS["good"]])[0]
    assert alone.per_sample == pytest.approx(results["good"].per_sample, abs=1e-5)


def test_embedding_agreement_identical_sample_scores_one(open_scorer):
    scorer = open_scorer("embedding-agreement")
    (res,) = scorer.score([ScoreInput("q", "Paris is the capital.", ["Paris is the capital.", ""])])
    assert res.per_sample == [pytest.approx(1.0, abs=1e-5), 0.0] and res.score == pytest.approx(0.5, abs=1e-5)
