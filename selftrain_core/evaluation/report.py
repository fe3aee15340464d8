"""The evaluation table as markdown: base vs trained with intervals, and whether the difference is significant."""

from __future__ import annotations

from typing import Any

from selftrain_core.config import RunConfig

LABELS = {
    "f1": "token F1 vs reference (higher is better)",
    "containment": "reference tokens contained (higher is better)",
    "hallucinated": "hallucination rate (lower is better)",
}


def _cell(row: dict[str, Any]) -> str:
    return f"{row['value']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def metrics_table(metrics: list[dict[str, Any]]) -> str:
    index = {(m["model"], m["metric"]): m for m in metrics}
    models = [m for m in dict.fromkeys(r["model"] for r in metrics)]
    lines = ["| metric | " + " | ".join(models) + " | significant? |", "|---" * (len(models) + 2) + "|"]
    for metric, label in LABELS.items():
        cells = [_cell(index[(m, metric)]) if (m, metric) in index else "" for m in models]
        diff = next((index[(m, metric)] for m in models if "-" in m and (m, metric) in index), None)
        significant = ""
        if diff is not None:
            significant = "yes" if diff["ci_low"] > 0 or diff["ci_high"] < 0 else "no (interval spans 0)"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {significant} |")
    return "\n".join(lines)


def render_report(metrics: list[dict[str, Any]], cfg: RunConfig) -> str:
    n = metrics[0]["n"] if metrics else 0
    level = int(cfg.evaluate.confidence * 100)
    return (
        f"# Evaluation: {cfg.name}\n\n"
        f"{n} held-out questions from held-out documents, answered greedily without the document. "
        f"Values are means with {level}% bootstrap intervals ({cfg.evaluate.bootstrap_samples} resamples); "
        "the last model column is the paired difference.\n\n" + metrics_table(metrics) + "\n"
    )
