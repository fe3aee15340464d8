"""The evaluation report's plots as PNG bytes (matplotlib, Agg; no timestamps, so the same data gives the same
bytes): score histograms for known vs unknown, the scorer's reliability curve, base vs trained bars."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    _figure().close(fig)
    return buffer.getvalue()


def score_histogram(scores: Sequence[float], known: Sequence[bool], scorer: str) -> bytes:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    s, k = np.asarray(scores, dtype=float), np.asarray(known, dtype=bool)
    bins = np.linspace(min(s.min(initial=0.0), 0.0), max(s.max(initial=1.0), 1.0), 21)
    ax.hist(s[k], bins=bins, alpha=0.6, label=f"known (base correct), n={int(k.sum())}")
    ax.hist(s[~k], bins=bins, alpha=0.6, label=f"unknown (base wrong), n={int((~k).sum())}")
    ax.set_xlabel(f"S_K ({scorer})")
    ax.set_ylabel("held-out questions")
    ax.legend()
    ax.set_title("Knowledge score by whether the base model was right")
    return _png(fig)


def reliability_curve(scores: Sequence[float], correct: Sequence[bool], bins: int = 5) -> bytes:
    """Base accuracy per S_K bin (equal-width over [0, 1], clipped) against the bin's mean score."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    s, y = np.clip(np.asarray(scores, dtype=float), 0, 1), np.asarray(correct, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(s, edges[1:-1]), 0, bins - 1)
    xs, ys, ns = [], [], []
    for b in range(bins):
        mask = which == b
        if mask.any():
            xs.append(s[mask].mean())
            ys.append(y[mask].mean())
            ns.append(int(mask.sum()))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.plot(xs, ys, marker="o", label="base model")
    for x, y_, n in zip(xs, ys, ns, strict=True):
        ax.annotate(f"n={n}", (x, y_), textcoords="offset points", xytext=(4, -10), fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("S_K (knowledge score)")
    ax.set_ylabel("share answered correctly")
    ax.set_title("Reliability of the knowledge score")
    ax.legend(loc="upper left")
    return _png(fig)


def set_bars(metrics: list[dict[str, Any]], models: Sequence[str], metric: str = "correct") -> bytes:
    """Grouped bars with interval whiskers: one group per evaluation set, one bar per model, for one metric."""
    plt = _figure()
    index = {(m["set"], m["model"], m["metric"]): m for m in metrics}
    sets = [s for s in dict.fromkeys(m["set"] for m in metrics) if all((s, n, metric) in index for n in models)]
    fig, ax = plt.subplots(figsize=(1.9 * max(len(sets), 1) + 2, 3.6))
    width = 0.8 / max(len(models), 1)
    for i, name in enumerate(models):
        rows = [index[(s, name, metric)] for s in sets]
        values = np.array([r["value"] for r in rows])
        err = np.array([[r["value"] - r["ci_low"] for r in rows], [r["ci_high"] - r["value"] for r in rows]])
        ax.bar(np.arange(len(sets)) + i * width, values, width, yerr=np.nan_to_num(err), capsize=3, label=name)
    ax.set_xticks(np.arange(len(sets)) + width * (len(models) - 1) / 2, [s.replace("_", " ") for s in sets])
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"share {metric}")
    ax.legend(fontsize=8)
    ax.set_title(f"Share {metric} per evaluation set (whiskers: bootstrap interval)")
    return _png(fig)
