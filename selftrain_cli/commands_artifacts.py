"""Commands that look into the artifact store: `artifacts list`, `artifacts show` and `lineage`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from selftrain_cli.lookup import open_store
from selftrain_cli.options import ConfigOption, RootOption, Stage
from selftrain_core.config.loading import DEFAULT_PRESET

artifacts_app = typer.Typer(no_args_is_help=True, help="List and inspect artifacts.")


@artifacts_app.command("list")
def artifacts_list(
    stage: Annotated[Stage | None, typer.Option(help="Only this stage's artifacts.")] = None,
    config: ConfigOption = DEFAULT_PRESET,
    root: RootOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per artifact (its manifest), a list.")
    ] = False,
) -> None:
    """List complete artifacts, newest first."""
    from selftrain_cli.render import artifacts_table, console

    store = open_store(config, root)
    if as_json:
        typer.echo(json.dumps(store.list(stage), indent=2))
        return
    console.print(artifacts_table(store.list(stage)))


@artifacts_app.command("show")
def artifacts_show(
    stage: Annotated[Stage, typer.Argument(help="The artifact's stage.")],
    key: Annotated[str, typer.Argument(help="The artifact's key (see `selftrain artifacts list`).")],
    config: ConfigOption = DEFAULT_PRESET,
    root: RootOption = None,
) -> None:
    """Print an artifact's manifest and verify its checksums."""
    store = open_store(config, root)
    manifest = store.manifest(stage, key)
    typer.echo(json.dumps(manifest, indent=2))
    bad = store.verify(stage, key)
    typer.echo("checksums: ok" if not bad else f"checksums: MISMATCH in {bad}")


def lineage(
    row_id: Annotated[str, typer.Argument(help="The row's id; its prefix names its stage.")],
    config: ConfigOption = DEFAULT_PRESET,
    root: RootOption = None,
) -> None:
    """Why was this row made? Walk ROW_ID (pair-, score-, ans-, q-, chunk-, doc-) down to its document."""
    from selftrain_cli.render import print_lineage
    from selftrain_core.store.lineage import walk

    print_lineage(walk(open_store(config, root), row_id))
