"""`selftrain`: run the self-training flow (whole or up to one stage), inspect artifacts and evaluations, walk lineage.

Exit codes: 0 done; 2 a mistake in input or config (the message names it);
3 a server stayed down (finished work is kept: run the same command again);
1 an unexpected error (a bug: the traceback says where)."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from selftrain_cli import commands_curate, commands_publish, commands_report, commands_run, commands_suite
from selftrain_cli.commands_artifacts import artifacts_app, lineage
from selftrain_core.config import STAGES
from selftrain_core.errors import SelftrainError

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_enable=False)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"selftrain {version('selftrain')}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Global options."""


RUN, LOOK, DATA = "Run the pipeline", "Inspect results", "Curated data"
app.command(rich_help_panel=RUN)(commands_run.run)
for _stage in STAGES:
    app.command(name=_stage, rich_help_panel=RUN)(commands_run.stage_command(_stage))
app.command(rich_help_panel=RUN)(commands_run.experiment)
app.command(rich_help_panel=RUN)(commands_run.compare)
app.command("config", rich_help_panel=RUN)(commands_run.show_config)
app.command(rich_help_panel=LOOK)(commands_report.report)
app.command(rich_help_panel=LOOK)(lineage)
app.add_typer(artifacts_app, name="artifacts", rich_help_panel=LOOK)
app.command(rich_help_panel=DATA)(commands_curate.calibrate)
app.command("export-dataset", rich_help_panel=DATA)(commands_curate.export_dataset)
app.command("export-suite", rich_help_panel=DATA)(commands_suite.export_suite)
app.command(rich_help_panel=DATA)(commands_publish.publish)


def main() -> None:
    """Exit 2 on a mistake in input or config; 3 when a server stayed down (finished shards are kept: rerun)."""
    from selftrain_core.backends.errors import ServerUnavailableError

    try:
        app()
        return
    except SelftrainError as exc:
        message, code = "\n".join([str(exc), *getattr(exc, "__notes__", [])]), 2
    except ServerUnavailableError as exc:
        message, code = f"{exc}\nfinished work is kept: run the same command again to resume", 3
    # Exit outside the except block: the traceback's frames (and the Arrow buffers they hold) are freed first;
    # freeing them during interpreter shutdown aborts in Arrow's thread pool.
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
