"""Judge-scorer agreement: does the scorer a run trains on track what the judge prefers?

Per set with training-scorer scores and judge verdicts, and per arm, two labels per question:
- the scorer's: the model did not know it (S_K below curate.known_threshold), so the method targets it;
- the judge's: the arm's answer was preferred over base in both orders (a win).
Cohen's kappa of the two (1: they always agree; 0: no better than chance), with a percentile bootstrap interval
over questions (resamples where kappa is undefined, one label constant, are skipped), and the raw agreement share.
A kappa near 0 says that where the scorer sent training, the judge saw no more improvement than elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float:
    """Cohen's kappa of two binary labellings of the same items; NaN when chance agreement is 1 (undefined)."""
    x, y = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if x.size == 0:
        return float("nan")
    observed = float(np.mean(x == y))
    px, py = float(np.mean(x)), float(np.mean(y))
    chance = px * py + (1 - px) * (1 - py)
    return float("nan") if chance >= 1.0 else (observed - chance) / (1.0 - chance)


def bootstrap_kappa(
    a: Sequence[bool], b: Sequence[bool], samples: int, confidence: float, seed: int
) -> tuple[float, float | None, float | None]:
    x, y = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    value = cohen_kappa(x, y)
    if math.isnan(value):
        return value, None, None
    rng = np.random.default_rng(seed)
    draws = [cohen_kappa(x[i], y[i]) for i in rng.integers(0, x.size, size=(samples, x.size))]
    draws = [d for d in draws if not math.isnan(d)]
    if not draws:
        return value, None, None
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return value, float(low), float(high)


def agreement_rows(
    rows: list[dict[str, Any]],
    verdicts: list[dict[str, Any]],
    known_threshold: float,
    samples: int,
    confidence: float,
    seed: int,
) -> list[dict[str, Any]]:
    """Metric rows (model `judge:<arm>`, metrics scorer_kappa and scorer_agreement) per set and arm."""
    s_k = {(r["set"], r["question_id"]): r["s_k"] for r in rows if r["model"] == "base"}
    out = []
    for set_name, arm in dict.fromkeys((v["set"], v["arm"]) for v in verdicts):
        pairs = [
            (s_k[(set_name, v["question_id"])] < known_threshold, v["outcome"] == "trained")
            for v in verdicts
            if (v["set"], v["arm"]) == (set_name, arm)
            and not math.isnan(s_k.get((set_name, v["question_id"]), math.nan))
        ]
        if not pairs:
            continue
        unknown, won = zip(*pairs, strict=True)
        value, low, high = bootstrap_kappa(unknown, won, samples, confidence, seed)
        common = {"set": set_name, "model": f"judge:{arm}", "n": len(pairs)}
        out.append({**common, "metric": "scorer_kappa", "value": value, "ci_low": low, "ci_high": high,
                    "interval": "percentile" if low is not None else "none"})  # fmt: skip
        share = float(np.mean([u == w for u, w in pairs]))
        out.append({**common, "metric": "scorer_agreement", "value": share, "ci_low": None, "ci_high": None,
                    "interval": "none"})  # fmt: skip
    return out
