"""The CLI's own surface: --version, exit codes in --help, help text on every option and argument, stage names as
choices, and `artifacts list --json` (what scripts read)."""

from __future__ import annotations

import json
import re
from importlib.metadata import version

import pyarrow as pa
import pytest
import typer
from typer.testing import CliRunner

from selftrain_cli.app import app
from selftrain_core.config import STAGES
from selftrain_core.stages.base import RunInfo, execute, make_plan
from selftrain_core.store import ArtifactStore

WIDE = {"COLUMNS": "200"}  # rich wraps help and errors at the terminal's width


def _flat(text: str) -> str:
    """Output without rich's box drawing and line breaks, so wrapped messages read as one line."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def _commands(command, path: tuple[str, ...] = ()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():  # a group has commands, a command none
        yield from _commands(sub, (*path, name))


def test_version_and_exit_codes_are_in_the_help():
    out = CliRunner().invoke(app, ["--version"])
    assert out.exit_code == 0 and out.output.strip() == f"selftrain {version('selftrain')}"
    text = " ".join(CliRunner().invoke(app, ["--help"]).output.split())
    assert "Exit codes: 0 done; 2 a mistake" in text
    assert "3 a server stayed down" in text and "1 an unexpected error" in text


def test_every_option_and_argument_of_every_command_has_help():
    commands = dict(_commands(typer.main.get_command(app)))
    assert {("run",), ("evaluate",), ("report",), ("artifacts", "list"), ("export-dataset",)} <= set(commands)
    missing = [
        " ".join([*path, param.name])
        for path, command in commands.items()
        for param in command.params
        if param.name != "help" and not (param.help or "").strip()
    ]
    assert missing == []


@pytest.mark.parametrize(
    "args", [["artifacts", "list", "--stage", "evalute"], ["artifacts", "show", "evalute", "some-key"]]
)
def test_a_misspelt_stage_is_refused_naming_the_stages(args, tmp_path):
    out = CliRunner().invoke(app, [*args, "--root", str(tmp_path)], env=WIDE)
    assert out.exit_code == 2
    assert "'evalute' is not one of " + ", ".join(f"'{s}'" for s in STAGES) in _flat(out.output)


def test_the_help_lists_the_stages_and_presets():
    text = _flat(CliRunner().invoke(app, ["artifacts", "list", "--help"], env=WIDE).output)
    assert "|".join(STAGES) in text and "A preset (experiment, offline-cpu) or a YAML file" in text


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
