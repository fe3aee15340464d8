"""The evaluation report as markdown: answer quality per model with intervals and whether the difference is
significant, retention, the knowledge scorer's AUROC, the judge's verdicts with their biases, and the plots."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from selftrain_core.config import RunConfig

LABELS = {
    "f1": "token F1 vs reference (higher is better)",
    "containment": "reference tokens contained (higher is better)",
    "correct": "correct: F1 >= threshold (higher is better)",
    "hallucinated": "hallucination rate: unsupported by the document (lower is better)",
}
SHORT_LABELS = {"f1": "token F1", "containment": "containment", "correct": "correct", "hallucinated": "hallucinated"}
JUDGE_LABELS = {
    "trained_win": "trained preferred in both orders",
    "base_win": "base preferred in both orders",
    "tie": "tie (identical answers, or the orders disagree)",
}
JUDGE_BIASES = {
    "position_flip_rate": "position-flip rate (two decisive verdicts, different models)",
    "first_position_rate": "decisive verdicts for answer A (first position)",
    "longer_answer_preferred": "decisive verdicts for the longer answer",
    "invalid_verdicts": "unparsable verdicts (count)",
}
CHECKS = {
    "embedding": "best embedding similarity to a sentence of the source document",
    "nli": "P(the source document entails the answer) under the NLI model",
}
FIGURES = {
    "models.png": "Base vs trained",
    "scores.png": "Knowledge score, known vs unknown",
    "reliability.png": "Reliability of the knowledge score",
}


def _number(value: Any) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def _cell(row: dict[str, Any]) -> str:
    if row.get("ci_low") is None:
        return _number(row["value"])
    return f"{_number(row['value'])} [{_number(row['ci_low'])}, {_number(row['ci_high'])}]"


def significant(diff: dict[str, Any] | None) -> str:
    if diff is None or diff.get("ci_low") is None or math.isnan(diff["ci_low"]):
        return ""
    return "yes" if diff["ci_low"] > 0 or diff["ci_high"] < 0 else "no (interval spans 0)"


def metrics_table(metrics: list[dict[str, Any]]) -> str:
    index = {(m["model"], m["metric"]): m for m in metrics}
    models = [m for m in dict.fromkeys(r["model"] for r in metrics) if m not in ("judge", "scorer")]
    header = "| metric | " + " | ".join(models) + " | significant? |"
    lines = [header, "|---" * (len(models) + 2) + "|"]
    for metric, label in LABELS.items():
        cells = [_cell(index[(m, metric)]) if (m, metric) in index else "" for m in models]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {significant(index.get(('trained-base', metric)))} |")
    return "\n".join(lines)


def render_report(metrics: list[dict[str, Any]], cfg: RunConfig, figures: Sequence[str] = ()) -> str:
    e = cfg.evaluate
    index = {(m["model"], m["metric"]): m for m in metrics}
    n = index[("base", "f1")]["n"] if ("base", "f1") in index else 0
    level = int(e.confidence * 100)
    parts = [
        f"# Evaluation: {cfg.name}",
        "",
        f"{n} held-out questions from held-out documents, answered greedily without the document. Values are "
        f"means with {level}% bootstrap intervals ({e.bootstrap_samples} resamples); `trained-base` is the "
        f"paired difference. Correct: token F1 >= {e.correct_f1}. Hallucination: {CHECKS[e.hallucination_check]} "
        f"< {e.hallucination_threshold}.",
        "",
        metrics_table(metrics),
        "",
    ]
    for model, metric, text in (
        ("trained", "retention", "Retention (of the questions the base got right, the trained model still does)"),
        ("trained", "newly_correct", "Newly correct (of the questions the base got wrong, the trained model gets)"),
        ("scorer", "auroc", "Knowledge scorer's AUROC (S_K for the base answering correctly)"),
    ):
        if (model, metric) in index:
            row = index[(model, metric)]
            parts.append(f"- {text}: {_cell(row)} (n = {row['n']})")
    if ("judge", "trained_win") in index:
        parts += ["", "## Pairwise judge (asked in both orders)", "", "| outcome | share |", "|---|---|"]
        parts += [f"| {label} | {_cell(index[('judge', k)])} |" for k, label in JUDGE_LABELS.items()]
        parts += ["", "| judge bias check | value |", "|---|---|"]
        parts += [f"| {label} | {_cell(index[('judge', k)])} |" for k, label in JUDGE_BIASES.items()]
    if figures:
        parts += ["", "## Plots", ""]
        parts += [f"![{FIGURES.get(name, name)}](plots/{name})" for name in figures]
    return "\n".join(parts) + "\n"
