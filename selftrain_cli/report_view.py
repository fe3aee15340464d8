"""The evaluation report in the terminal, as rich tables: per evaluation set, each model's mean and each arm's
paired difference against base (and the previous round's model) with its interval and whether it excludes 0, then
retention and the scorer's AUROC; then the pairwise judge. Built from an evaluate artifact's metrics rows (set, model,
metric, value, ci_low, ci_high, n, interval), the rows its report.md is written from, so the two agree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from selftrain_cli.render import console
from selftrain_core.stages.evaluate.intervals import TOO_FEW, significant
from selftrain_core.stages.evaluate.report import JUDGE_BIASES, JUDGE_LABELS, LABELS, SETS, cell
from selftrain_core.stages.evaluate.summary import LOWER_IS_BETTER
from selftrain_core.store import ArtifactRef, ArtifactStore

ARM_RATES = {"retention": "retention (base right, still right)", "newly_correct": "newly correct (base wrong)"}


def models_of(metrics: list[dict[str, Any]]) -> list[str]:
    """The models that answered, in the metrics' order: not a paired difference ("trained-base"), scorer or judge."""
    names = (m["model"] for m in metrics)
    return list(dict.fromkeys(n for n in names if "-" not in n and n != "scorer" and not n.startswith("judge:")))


def difference(row: dict[str, Any] | None, metric: str) -> Text:
    """A paired difference with its interval, and whether it is better, worse or spans 0."""
    if row is None:
        return Text("")
    found = significant(row)
    if found is None:
        mark = Text("too few" if row.get("n", 0) < TOO_FEW else "n/a", style="dim")
    elif not found:
        mark = Text("spans 0", style="dim")
    elif (row["value"] < 0) == (metric in LOWER_IS_BETTER):
        mark = Text("better", style="bold green")
    else:
        mark = Text("worse", style="bold red")
    return Text.assemble(cell(row), " ", mark)


def set_table(metrics: list[dict[str, Any]], set_name: str, arms: Sequence[str]) -> Table:
    index = {(m["model"], m["metric"]): m for m in metrics if m["set"] == set_name}
    models = [m for m in models_of(metrics) if any((m, k) in index for k in LABELS)]
    paired = [f"{a}-{o}" for a in arms for o in ("base", "previous") if any((f"{a}-{o}", k) in index for k in LABELS)]
    n = next((m["n"] for m in metrics if m["set"] == set_name and m["model"] == "base"), 0)
    table = Table(title=f"{SETS.get(set_name, set_name)} ({n} questions)", title_justify="left")
    table.add_column("metric")
    for name in models:
        table.add_column(name, justify="right")
    for name in paired:
        table.add_column(name.replace("-", " - "), justify="right")
    for metric, label in LABELS.items():
        if ("base", metric) in index:
            cells = [cell(index.get((m, metric))) for m in models]
            table.add_row(label, *cells, *[difference(index.get((p, metric)), metric) for p in paired])
    rates = [(metric, label) for metric, label in ARM_RATES.items() if any((a, metric) in index for a in arms)]
    if rates or ("scorer", "auroc") in index:
        table.add_section()
    for metric, label in rates:
        found = [index.get((m, metric)) for m in models]
        table.add_row(label, *[f"{cell(r)} (n = {r['n']})" if r else "" for r in found], *[""] * len(paired))
    if ("scorer", "auroc") in index:
        row = index[("scorer", "auroc")]
        by_base = [f"{cell(row)} (n = {row['n']})" if m == "base" else "" for m in models]
        table.add_row("training scorer's AUROC (S_K, base correct)", *by_base, *[""] * len(paired))
    return table


def judge_tables(metrics: list[dict[str, Any]]) -> list[Table]:
    """Per set and judged arm: the verdicts' shares (asked in both orders) and the judge's bias checks."""
    judged = [m for m in metrics if m["model"].startswith("judge:")]
    tables = []
    for set_name, model in dict.fromkeys((m["set"], m["model"]) for m in judged):
        index = {m["metric"]: m for m in judged if (m["set"], m["model"]) == (set_name, model)}
        table = Table(title=f"Pairwise judge: {model.removeprefix('judge:')} vs base, {set_name}", title_justify="left")
        table.add_column("outcome / bias check")
        table.add_column("share", justify="right")
        for key, label in JUDGE_LABELS.items():
            table.add_row(label, cell(index.get(key)))
        table.add_section()
        for key, label in JUDGE_BIASES.items():
            table.add_row(label, cell(index.get(key)))
        tables.append(table)
    return tables


def report_tables(metrics: list[dict[str, Any]], arms: Sequence[str]) -> list[Table]:
    """One table per evaluation set, in the metrics' order, then the judge's."""
    sets = dict.fromkeys(m["set"] for m in metrics if not m["model"].startswith("judge:"))
    return [set_table(metrics, s, arms) for s in sets] + judge_tables(metrics)


def print_report(store: ArtifactStore, ref: ArtifactRef) -> None:
    manifest = store.manifest("evaluate", ref.key)
    level = manifest["config"]["evaluate"].get("confidence", 0.95)
    console.print(
        f"\n[bold]Evaluation[/bold] {ref.key}: means over questions with {level:.0%} bootstrap intervals; "
        "`<arm> - base` is the paired difference on the same questions, better or worse when its interval excludes "
        f"0. Every section and the plots: {escape(ref.uri)}/report.md\n"
    )
    for table in report_tables(manifest["metrics"], manifest["config"]["arms"]):
        console.print(table, "")
