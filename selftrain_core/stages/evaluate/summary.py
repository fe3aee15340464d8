"""Graded rows -> the metrics table: per set and model, means with intervals; per arm, paired differences.

Rows of the table: set, model, metric, value, ci_low, ci_high, n, interval (bca, percentile, exact, none).
`model` is a model ("base", an arm such as "trained", "previous", "base+document") or a paired difference
"<arm>-base" (and "<arm>-previous"): per-question differences on the same questions, one bootstrap over questions.
Also per set and arm: retention (of the questions the base got right, the share the arm still gets right) and
newly_correct (of those the base got wrong, the share the arm gets right); per set with scores: the training
scorer's AUROC of S_K for the base answering correctly (labelled by the set's own grading).
"""

from __future__ import annotations

import math
from typing import Any

from selftrain_core.stages.evaluate.config import EvaluateConfig
from selftrain_core.stages.evaluate.intervals import mean_interval
from selftrain_core.stages.evaluate.metrics import bootstrap_auroc

REFERENCE_METRICS = ("correct", "f1", "containment", "abstained", "wrong", "hallucinated")
GOLD_METRICS = ("correct", "gold_grade", "abstained", "wrong", "hallucinated")
LOWER_IS_BETTER = {"abstained", "wrong", "hallucinated"}


def set_metrics(set_name: str) -> tuple[str, ...]:
    return GOLD_METRICS if set_name.startswith("gold") else REFERENCE_METRICS


def metric_row(set_name: str, model: str, metric: str, values: list[float], e: EvaluateConfig, seed: int) -> dict:
    value, low, high, kind = mean_interval(values, e.bootstrap_samples, e.confidence, seed)
    n = sum(not math.isnan(v) for v in values)
    return {
        "set": set_name,
        "model": model,
        "metric": metric,
        "value": value,
        "ci_low": low,
        "ci_high": high,
        "n": n,
        "interval": kind,
    }


def summarise(
    rows: list[dict[str, Any]], models: list[str], arms: list[str], e: EvaluateConfig, seed: int
) -> list[dict[str, Any]]:
    out = []
    for set_name in dict.fromkeys(r["set"] for r in rows):
        by_model = {
            m: sorted((r for r in rows if r["set"] == set_name and r["model"] == m), key=lambda r: r["question_id"])
            for m in models
        }
        metrics = set_metrics(set_name)
        for m in models:
            out += [metric_row(set_name, m, k, [r[k] for r in by_model[m]], e, seed) for k in metrics]
        for arm in arms:
            for other in [m for m in ("base", "previous") if m in models]:
                pairs = list(zip(by_model[other], by_model[arm], strict=True))
                for k in metrics:
                    diffs = [t[k] - o[k] for o, t in pairs]
                    out.append(metric_row(set_name, f"{arm}-{other}", k, diffs, e, seed))
            base, mine = by_model["base"], by_model[arm]
            kept = [t["correct"] for b, t in zip(base, mine, strict=True) if b["correct"]]
            gained = [t["correct"] for b, t in zip(base, mine, strict=True) if not b["correct"]]
            out.append(metric_row(set_name, arm, "retention", kept, e, seed))
            out.append(metric_row(set_name, arm, "newly_correct", gained, e, seed))
        scored = [r for r in by_model["base"] if not math.isnan(r["s_k"])]
        if scored:
            value, low, high = bootstrap_auroc(
                [r["s_k"] for r in scored],
                [bool(r["correct"]) for r in scored],
                e.bootstrap_samples,
                e.confidence,
                seed,
            )
            out.append(
                {
                    "set": set_name,
                    "model": "scorer",
                    "metric": "auroc",
                    "value": value,
                    "ci_low": low,
                    "ci_high": high,
                    "n": len(scored),
                    "interval": "percentile",
                }
            )
    return out
