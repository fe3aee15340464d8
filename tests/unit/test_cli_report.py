"""`selftrain report`: an evaluate artifact's metrics as rich tables (per set: each model, each arm's paired
difference with its interval and verdict), as JSON, or as its report.md; found by key, run id, or the newest."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console
from typer.testing import CliRunner

from selftrain_cli.app import app
from selftrain_cli.report_view import report_tables
from selftrain_core.errors import ArtifactNotFoundError
from selftrain_core.store import ArtifactStore, ArtifactWriter

WIDE = {"COLUMNS": "200"}


def _row(set_name, model, metric, value, low=None, high=None, n=20, interval="bca"):
    low, high = (value, value) if low is None else (low, high)
    return {
        "set": set_name,
        "model": model,
        "metric": metric,
        "value": value,
        "ci_low": low,
        "ci_high": high,
        "n": n,
        "interval": interval,
    }


METRICS = [
    _row("held_out", "base", "correct", 0.25, 0.1, 0.4),
    _row("held_out", "trained", "correct", 0.6, 0.4, 0.8),
    _row("held_out", "trained-base", "correct", 0.35, 0.15, 0.55),  # excludes 0: better
    _row("held_out", "base", "abstained", 0.1, 0.0, 0.25),
    _row("held_out", "trained", "abstained", 0.05, 0.0, 0.15),
    _row("held_out", "trained-base", "abstained", -0.05, -0.2, 0.1),  # spans 0
    _row("held_out", "trained", "retention", 0.8, 0.5, 1.0, n=5),
    _row("held_out", "scorer", "auroc", 0.7, 0.55, 0.85),
    _row("gold_train", "base", "correct", 0.5, 0.0, 1.0, n=4),
    _row("gold_train", "trained", "correct", 0.25, 0.0, 0.75, n=4),
    _row("gold_train", "trained-base", "correct", -0.25, -0.75, 0.0, n=4),  # under 10 questions
    _row("held_out", "judge:trained", "win", 0.45, 0.3, 0.6),
    _row("held_out", "judge:trained", "loss", 0.15, 0.05, 0.3),
]


def _text(renderables) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    for r in renderables:
        console.print(r)
    return console.export_text()


def test_each_set_is_a_table_of_models_and_paired_differences_with_their_intervals():
    tables = report_tables(METRICS, ["trained"])
    assert len(tables) == 3  # held_out, gold_train, the judge
    held_out, gold, judge = (_text([t]) for t in tables)
    assert "Held-out documents" in held_out and "(20 questions)" in held_out
    header = next(line for line in held_out.splitlines() if "metric" in line)
    assert [cell.strip() for cell in header.strip("┃ ").split("┃")] == ["metric", "base", "trained", "trained - base"]
    correct = next(line for line in held_out.splitlines() if line.startswith("│ correct"))
    assert "0.250 [0.100, 0.400]" in correct and "0.600 [0.400, 0.800]" in correct
    assert "0.350 [0.150, 0.550] better" in correct
    assert "-0.050 [-0.200, 0.100] spans 0" in held_out
    assert "0.800 [0.500, 1.000] (n = 5)" in held_out and "AUROC" in held_out and "0.700 [0.550, 0.850]" in held_out
    gold = " ".join(gold.split())  # a narrow table wraps its title
    assert "Training documents, gold question" in gold and "(4 questions)" in gold and "too few" in gold
    assert "Pairwise judge: trained vs base, held_out" in judge and "0.450 [0.300, 0.600]" in judge


def test_a_lower_is_better_metric_that_falls_is_better():
    falls = [
        _row("held_out", "base", "hallucinated", 0.4, 0.3, 0.5),
        _row("held_out", "trained", "hallucinated", 0.1, 0.0, 0.2),
        _row("held_out", "trained-base", "hallucinated", -0.3, -0.45, -0.15),
    ]
    assert "-0.300 [-0.450, -0.150] better" in _text(report_tables(falls, ["trained"]))


@pytest.fixture
def evaluation(tmp_path):
    """An evaluate artifact as the stage writes it: metrics in the manifest, report.md beside them."""
    store = ArtifactStore(str(tmp_path))
    writer = ArtifactWriter(store, "evaluate", "k1")
    writer.write_bytes("report.md", b"# Evaluation: demo\n")
    manifest = {
        "config": {"arms": ["trained"], "evaluate": {"confidence": 0.9}},
        "run": {"run_id": "run-7", "iteration": 1, "flow_run_id": "flow-7", "task_run_id": None},
        "metrics": METRICS,
    }
    writer.commit(manifest)
    return store


def test_report_renders_tables_and_keeps_json_and_markdown(evaluation, tmp_path):
    root = ["--root", str(tmp_path)]
    out = CliRunner().invoke(app, ["report", *root], env=WIDE)  # the newest
    assert out.exit_code == 0, out.output
    assert "90% bootstrap intervals" in out.output and "Held-out documents" in out.output
    assert "0.350 [0.150, 0.550] better" in out.output and "# Evaluation" not in out.output
    out = CliRunner().invoke(app, ["report", "run-7", *root, "--json"])  # by run id
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == METRICS
    out = CliRunner().invoke(app, ["report", "k1", *root, "--markdown"])  # by key
    assert out.exit_code == 0 and out.output == "# Evaluation: demo\n"
    out = CliRunner().invoke(app, ["report", "no-such-run", *root])
    assert isinstance(out.exception, ArtifactNotFoundError) and "no-such-run" in str(out.exception)
    assert CliRunner().invoke(app, ["report", *root, "--json", "--markdown"]).exit_code == 2
