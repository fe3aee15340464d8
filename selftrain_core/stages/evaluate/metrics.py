"""Answer metrics (SQuAD-style normalisation) and bootstrap confidence intervals."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

import numpy as np

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalise_answer(text: str) -> list[str]:
    return _ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split()


def token_f1(prediction: str, reference: str) -> float:
    pred, ref = normalise_answer(prediction), normalise_answer(reference)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def containment(prediction: str, reference: str) -> float:
    """Share of the reference's tokens that appear in the prediction."""
    pred, ref = set(normalise_answer(prediction)), normalise_answer(reference)
    return sum(t in pred for t in ref) / len(ref) if ref else 0.0


def bootstrap_ci(
    values: Sequence[float], samples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """(mean, low, high): percentile bootstrap interval of the mean."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(samples, data.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    return float(data.mean()), float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def auroc(scores: Sequence[float], positives: Sequence[bool]) -> float:
    """Area under the ROC curve of `scores` for `positives` (ties count half); nan with one class only."""
    s, y = np.asarray(scores, dtype=float), np.asarray(positives, dtype=bool)
    if y.all() or not y.any():
        return float("nan")
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]  # 1-based ranks, ties averaged
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def bootstrap_auroc(
    scores: Sequence[float], positives: Sequence[bool], samples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """(auroc, low, high): percentile bootstrap over items; resamples with one class only are skipped."""
    s, y = np.asarray(scores, dtype=float), np.asarray(positives, dtype=bool)
    value = auroc(s, y)
    if np.isnan(value):
        return value, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = [auroc(s[i], y[i]) for i in rng.integers(0, s.size, size=(samples, s.size))]
    draws = [d for d in draws if not np.isnan(d)]
    alpha = (1 - confidence) / 2
    return value, float(np.quantile(draws, alpha)), float(np.quantile(draws, 1 - alpha))
