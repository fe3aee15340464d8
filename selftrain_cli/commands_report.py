"""`selftrain report`: an evaluation's results in the terminal (rich tables), as JSON, or as its report.md."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from selftrain_cli.lookup import evaluation, open_store
from selftrain_cli.options import ConfigOption, RootOption
from selftrain_core.config.loading import DEFAULT_PRESET


def report(
    key_or_run: Annotated[
        str | None,
        typer.Argument(help="An evaluate artifact key, or a run id (its last round's); default: the newest."),
    ] = None,
    config: ConfigOption = DEFAULT_PRESET,
    root: RootOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="The metrics rows as JSON (set, model, metric, value, ci_low, ci_high, n).")
    ] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="The artifact's report.md as written, plain.")] = False,
) -> None:
    """Show an evaluation: per set, each model's means and each arm's paired difference with its interval."""
    if as_json and markdown:
        raise typer.BadParameter("--json and --markdown are alternatives: give one")
    store = open_store(config, root)
    ref = evaluation(store, key_or_run)
    if as_json:
        typer.echo(json.dumps(store.manifest("evaluate", ref.key)["metrics"], indent=2))
    elif markdown:
        typer.echo(store.fs.cat_file(f"{store.dir(ref.stage, ref.key)}/report.md").decode("utf-8"), nl=False)
    else:
        from selftrain_cli.report_view import print_report

        print_report(store, ref)
