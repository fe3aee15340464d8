"""Confidence intervals for evaluation means and paired differences.

A paired difference (trained - base on the same questions) is the mean of per-question differences, so one
bootstrap over questions keeps the pairing. BCa (scipy.stats.bootstrap) where it is defined; it is not when every
value is the same (no spread) or with fewer than 3 values, and then the percentile interval (or the single value)
is used: the `interval` column names which. Below `TOO_FEW` questions a set is reported as too small to conclude.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

TOO_FEW = 10


def mean_interval(
    values: Sequence[float], samples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float, str]:
    """(mean, low, high, kind): kind is bca, percentile, exact (no spread) or none (no values)."""
    data = np.asarray([v for v in values if not np.isnan(v)], dtype=float)
    if data.size == 0:
        return float("nan"), float("nan"), float("nan"), "none"
    mean = float(data.mean())
    if np.ptp(data) == 0:
        return mean, mean, mean, "exact"
    rng = np.random.default_rng(seed)
    if data.size >= 3:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy warns on a degenerate BCa; we fall back below
            result = stats.bootstrap(
                (data,), np.mean, n_resamples=samples, confidence_level=confidence, method="BCa", random_state=rng
            )
        low, high = result.confidence_interval
        if np.isfinite(low) and np.isfinite(high):
            return mean, float(low), float(high), "bca"
    means = data[rng.integers(0, data.size, size=(samples, data.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    return mean, float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha)), "percentile"


def significant(row: dict[str, Any]) -> bool | None:
    """True when a paired difference's interval excludes 0; None when undefined or the set is too small."""
    low, high = row.get("ci_low"), row.get("ci_high")
    if low is None or high is None or np.isnan(low) or np.isnan(high) or row.get("n", 0) < TOO_FEW:
        return None
    return bool(low > 0 or high < 0)
