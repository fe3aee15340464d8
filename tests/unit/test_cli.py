"""The CLI's own surface: --version, exit codes in --help, and `artifacts list --json` (what scripts read)."""

from __future__ import annotations

import json
from importlib.metadata import version

import pyarrow as pa
from typer.testing import CliRunner

from selftrain_cli.app import app
from selftrain_core.stages.base import RunInfo, execute, make_plan
from selftrain_core.store import ArtifactStore


def test_version_and_exit_codes_are_in_the_help():
    out = CliRunner().invoke(app, ["--version"])
    assert out.exit_code == 0 and out.output.strip() == f"selftrain {version('selftrain')}"
    assert "Exit codes: 0 done; 2 a mistake" in " ".join(CliRunner().invoke(app, ["--help"]).output.split())


def test_artifacts_list_as_json_gives_the_manifests(tmp_path):
    store = ArtifactStore(str(tmp_path))
    for value in (1, 2):
        plan = make_plan("demo", 1, {"a": value})
        execute(plan, store, RunInfo(), lambda w: w.write_table("data", pa.table({"x": [1, 2]})), log=lambda _: None)
    out = CliRunner().invoke(app, ["artifacts", "list", "--root", str(tmp_path), "--json"])
    assert out.exit_code == 0, out.output
    listed = json.loads(out.output)
    assert {m["key"] for m in listed} == {m["key"] for m in store.list("demo")} and len(listed) == 2
    assert all(m["row_counts"] == {"data": 2} for m in listed)
