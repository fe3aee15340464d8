"""The evaluation report as markdown: one table per evaluation set (every model, every arm's paired difference
against base with its interval and whether it excludes 0), retention, the scorer's AUROC, the judge's verdicts
per arm with their biases, and the plots. Every number is read from the metrics table, so the two agree."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from selftrain_core.config import RunConfig
from selftrain_core.stages.evaluate.intervals import TOO_FEW, significant
from selftrain_core.stages.evaluate.summary import LOWER_IS_BETTER

SETS = {
    "held_out": "Held-out documents: generated questions, graded by the grounded reference",
    "train_new": "Training documents, new questions (another prompt, deduplicated against the trained ones), "
    "graded by the grounded reference",
    "known": "Known questions (retention): training questions the model already knew, not trained on by the method",
    "gold_train": "Training documents, gold question, graded by the gold answer (no model involved)",
    "gold_held_out": "Held-out documents, gold question, graded by the gold answer (no model involved)",
    "suite": "Regression suite: hard questions of an earlier run (evaluate.suite), graded by the suite's reference",
}
LABELS = {
    "correct": "correct",
    "gold_grade": "gold content words found",
    "f1": "token F1 vs reference",
    "containment": "reference tokens contained",
    "abstained": "abstained",
    "wrong": "wrong (not abstained)",
    "hallucinated": "hallucinated",
}
JUDGE_LABELS = {
    "win": "arm preferred in both orders",
    "loss": "base preferred in both orders",
    "tie": "tie (identical answers, or the orders disagree)",
}
JUDGE_BIASES = {
    "position_flip_rate": "position-flip rate (two decisive verdicts, different models)",
    "first_position_rate": "decisive verdicts for answer A (first position)",
    "longer_answer_preferred": "decisive verdicts for the longer answer",
    "invalid_verdicts": "unparsable verdicts (count)",
    "scorer_kappa": "agreement with the training scorer (Cohen's kappa: scorer says unknown vs arm wins)",
    "scorer_agreement": "agreement with the training scorer (share of questions)",
}
CHECKS = {
    "lexical": "share of its numbers and names found in the document (no model)",
    "embedding": "best embedding similarity to a sentence of the document",
    "nli": "P(the document entails the answer) under the NLI model",
}
FIGURES = {
    "sets.png": "Share correct per evaluation set",
    "scores.png": "Knowledge score, known vs unknown",
    "reliability.png": "Reliability of the knowledge score",
}


def number(value: Any) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return ""
    if row.get("ci_low") is None or row.get("interval") == "exact":
        return number(row["value"])
    return f"{number(row['value'])} [{number(row['ci_low'])}, {number(row['ci_high'])}]"


def verdict(row: dict[str, Any] | None, metric: str) -> str:
    if row is None:
        return ""
    found = significant(row)
    if found is None:
        return "too few to conclude" if row.get("n", 0) < TOO_FEW else "n/a"
    if not found:
        return "no (spans 0)"
    better = (row["value"] < 0) if metric in LOWER_IS_BETTER else (row["value"] > 0)
    return "**better**" if better else "**worse**"


def set_table(metrics: list[dict[str, Any]], set_name: str, models: Sequence[str], arms: Sequence[str]) -> str:
    index = {(m["model"], m["metric"]): m for m in metrics if m["set"] == set_name}
    names = [m for m in models if any((m, k) in index for k in LABELS)]
    header = ["metric", *names] + [f"{a} - base" for a in arms] + [f"{a}: significant?" for a in arms]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for metric, label in LABELS.items():
        if ("base", metric) not in index:
            continue
        cells = [cell(index.get((m, metric))) for m in names]
        cells += [cell(index.get((f"{a}-base", metric))) for a in arms]
        cells += [verdict(index.get((f"{a}-base", metric)), metric) for a in arms]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for arm in arms:
        for metric, text in (("retention", "retention (base right, still right)"), ("newly_correct", "newly correct")):
            if (arm, metric) in index:
                lines.append(f"\n- {arm}: {text}: {cell(index[(arm, metric)])} (n = {index[(arm, metric)]['n']})")
    if ("scorer", "auroc") in index:
        row = index[("scorer", "auroc")]
        lines.append(f"- training scorer's AUROC (S_K for the base being correct): {cell(row)} (n = {row['n']})")
    return "\n".join(lines)


def judge_section(metrics: list[dict[str, Any]], arms: Sequence[str]) -> list[str]:
    judged = [m for m in metrics if m["model"].startswith("judge:")]
    if not judged:
        return []
    parts = ["", "## Pairwise judge (each arm against base, asked in both orders)", ""]
    for key in dict.fromkeys((m["set"], m["model"]) for m in judged):
        index = {m["metric"]: m for m in judged if (m["set"], m["model"]) == key}
        parts += [f"### {key[1].removeprefix('judge:')} vs base, {key[0]}", "", "| outcome | share |", "|---|---|"]
        parts += [f"| {label} | {cell(index.get(k))} |" for k, label in JUDGE_LABELS.items()]
        parts += ["", "| judge bias check | value |", "|---|---|"]
        parts += [f"| {label} | {cell(index.get(k))} |" for k, label in JUDGE_BIASES.items()]
        parts.append("")
    return parts


def render_report(
    metrics: list[dict[str, Any]],
    cfg: RunConfig,
    models: Sequence[str],
    arms: Sequence[str],
    figures: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> str:
    e = cfg.evaluate
    level = int(e.confidence * 100)
    parts = [
        f"# Evaluation: {cfg.name}",
        "",
        f"Each set is reported apart. Models answer greedily without the document. Values are means with {level}% "
        f"bootstrap intervals over questions ({e.bootstrap_samples} resamples; BCa where defined, else percentile); "
        f"`<arm> - base` is the paired difference on the same questions, significant when its interval excludes 0 "
        f"(sets under {TOO_FEW} questions are too small to conclude). Correct: gold content words >= "
        f"{e.gold_threshold} for gold questions, token F1 >= {e.correct_f1} against the grounded reference "
        f"otherwise; abstentions are neither correct nor wrong. Hallucination: {CHECKS[e.hallucination_check]} < "
        f"{e.hallucination_threshold}. Documents: {e.documents}.",
        "",
        *[f"- {n}" for n in notes],
    ]
    for set_name in dict.fromkeys(m["set"] for m in metrics if not m["model"].startswith("judge:")):
        n = next((m["n"] for m in metrics if m["set"] == set_name and m["model"] == "base"), 0)
        parts += [
            "",
            f"## {SETS.get(set_name, set_name)} ({n} questions)",
            "",
            set_table(metrics, set_name, models, arms),
        ]
    parts += judge_section(metrics, arms)
    if figures:
        parts += ["", "## Plots", ""]
        parts += [f"![{FIGURES.get(name, name)}](plots/{name})" for name in figures]
    return "\n".join(parts) + "\n"
