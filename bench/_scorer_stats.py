"""Statistics of bench/scorers.py: AUROC and AUC-PR of each scorer against a label, with bootstrap intervals over
questions (a question's samples stay together), as markdown table rows."""

from __future__ import annotations

import numpy as np
from _scorer_runs import BASELINE, VARIANTS

from selftrain_core.stages.evaluate.metrics import auroc


def average_precision(scores: np.ndarray, positives: np.ndarray) -> float:
    if not positives.any():
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    hits = positives[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / hits.sum())


def bootstrap(metric, groups: list[np.ndarray], samples: int, seed: int = 0) -> np.ndarray:
    """metric(indices of resampled questions) over `samples` resamples of the questions."""
    rng = np.random.default_rng(seed)
    n = len(groups)
    return np.array([metric(rng.integers(0, n, n)) for _ in range(samples)])


def interval(values: np.ndarray) -> str:
    values = values[~np.isnan(values)]
    if not values.size:
        return "[undefined: one class]"
    low, high = np.quantile(values, [0.025, 0.975])
    return f"[{low:.3f}, {high:.3f}]"


def versus(metric, groups, samples: int) -> str:
    """Point difference (all questions) and its paired bootstrap interval; 'beats it' when the interval is > 0."""
    deltas = bootstrap(metric, groups, samples)
    point = metric(np.arange(len(groups)))
    verdict = " **beats it**" if np.nanquantile(deltas, 0.025) > 0 else ""
    return f"{point:+.3f} {interval(deltas)}{verdict}"


def label_table(results: dict[str, tuple | str], wrong: list[np.ndarray], samples: int) -> list[str]:
    """The markdown table of every scorer against one label (per-sample `wrong`; unknown: at least half wrong)."""
    unknown = np.array([w.mean() >= 0.5 for w in wrong])

    def sample_auroc(per_sample, idx):
        return auroc(np.concatenate([per_sample[i] for i in idx]), np.concatenate([wrong[i] for i in idx]))

    everyone = np.arange(len(wrong))
    base = results[BASELINE]
    lines = [
        "| scorer | AUROC per sample [95% CI] | AUC-PR per sample | per-sample AUROC - predictive entropy [95% CI] "
        "| AUROC per question [95% CI] | per-question AUROC - predictive entropy [95% CI] | s / question |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, _ in VARIANTS:
        got = results[name]
        if isinstance(got, str):
            lines.append(f"| {name} | {got} | | | | | |")
            continue
        per_sample, per_question, seconds = got
        point = sample_auroc(per_sample, everyone)
        ci = interval(bootstrap(lambda idx, ps=per_sample: sample_auroc(ps, idx), wrong, samples))
        pr = average_precision(np.concatenate(per_sample), np.concatenate(wrong))
        q_point = auroc(per_question, unknown)
        q_ci = interval(bootstrap(lambda idx, pq=per_question: auroc(pq[idx], unknown[idx]), wrong, samples))
        if name == BASELINE:
            diff = q_diff = "baseline"
        else:
            diff = versus(lambda idx, ps=per_sample: sample_auroc(ps, idx) - sample_auroc(base[0], idx), wrong, samples)
            q_diff = versus(
                lambda idx, pq=per_question: auroc(pq[idx], unknown[idx]) - auroc(base[1][idx], unknown[idx]),
                wrong,
                samples,
            )
        lines.append(
            f"| {name} | {point:.3f} {ci} | {pr:.3f} | {diff} | {q_point:.3f} {q_ci} | {q_diff} | {seconds:.3f} |"
        )
    return lines


def label_summary(wrong: list[np.ndarray]) -> str:
    flat = np.concatenate(wrong)
    unknown = np.mean([w.mean() >= 0.5 for w in wrong])
    return f"{100 * flat.mean():.0f}% of samples wrong, {100 * unknown:.0f}% of questions unknown"
