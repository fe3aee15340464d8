"""Terminal output: artifact listings, lineage chains and the threshold sweep (evaluations: report_view.py)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from selftrain_core.store import ArtifactRef, ArtifactStore
from selftrain_core.store.lineage import LineageStep

console = Console()


def _short(value: Any, width: int = 100) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def artifacts_table(manifests: list[dict[str, Any]]) -> Table:
    table = Table(title="artifacts")
    for column in ("stage", "key", "created", "rows", "drops", "seconds"):
        table.add_column(column, no_wrap=column in {"stage", "key", "created"})
    for m in manifests:
        table.add_row(
            m["stage"],
            m["key"],
            m.get("created_at", "")[:16].replace("T", " "),
            _short(m.get("row_counts", {}), 60),
            _short(m.get("drops", {}), 50),
            str(m.get("seconds", "")),
        )
    return table


def print_run(store: ArtifactStore, refs: dict[str, ArtifactRef]) -> None:
    console.print(f"\n[bold]Artifacts[/bold] under {store.url}:")
    console.print(artifacts_table([store.manifest(r.stage, r.key) for r in refs.values()]))


def print_lineage(steps: list[LineageStep]) -> None:
    for depth, step in enumerate(steps):
        pad = "  " * depth
        console.print(f"{pad}[bold]{step.stage}[/bold] {step.row_id}  (artifact {step.stage}/{step.key})")
        for name, value in step.fields.items():
            console.print(f"{pad}  {name}: {_short(value)}", markup=False, highlight=False, soft_wrap=True)
        for name, value in step.extra.items():
            console.print(f"{pad}  {name}: {_short(value)}", markup=False, highlight=False, soft_wrap=True)
        console.print(f"{pad}  config: {_short(step.config, 160)}", markup=False, highlight=False, soft_wrap=True)


def _pct(value: float) -> str:
    return "-" if value != value else f"{100 * value:.0f}%"  # nan -> "-"


def print_calibration(result, curate) -> None:
    """The threshold sweep as a table; the configured thresholds are marked."""
    console.print(
        f"{result.questions} questions, {_pct(result.unknown_rate)} truly unknown (>= half the no-document "
        f"samples with token F1 < {result.wrong_f1} against the reference); AUROC of 1 - S_K: {result.auroc:.3f}"
    )
    table = Table(title="threshold sweep (pairs / sft: train questions; precision, recall: all questions)")
    for column in ("S_L>=", "S_K<", "kept", "flagged", "prec.", "recall", "pairs", "sft", "rej.wrong"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in result.rows:
        configured = (row["answerable_threshold"], row["known_threshold"]) == (
            curate.answerable_threshold,
            curate.known_threshold,
        )
        table.add_row(
            f"{row['answerable_threshold']:g}",
            f"{row['known_threshold']:g}" + (" *" if configured else ""),
            str(row["answerable"]),
            str(row["flagged"]),
            _pct(row["precision"]),
            _pct(row["recall"]),
            str(row["pairs"]),
            str(row["sft"]),
            _pct(row["rejected_wrong"]),
        )
    console.print(table)
    console.print(
        "kept: S_L >= threshold; flagged: kept and S_K < threshold (called unknown); prec.: share of flagged truly "
        "unknown; rej.wrong: share of rejected answers that are wrong; * the configured thresholds "
        "(curate.answerable_threshold, curate.known_threshold)."
    )
