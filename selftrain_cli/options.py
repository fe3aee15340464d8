"""Options and arguments that several `selftrain` commands share, each with its help text.

Stage names are choices from `STAGES`, so `--help` lists them and a misspelt one is refused (exit 2) with the list.
`--config` takes a preset or a YAML path, so it stays free text: its help lists the presets, and an unknown name
fails in `load_run_config` naming them."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from selftrain_core.config import STAGES
from selftrain_core.config.loading import preset_names

Stage = Literal[STAGES]  # a Literal of the tuple's names: typer makes it a choice

ConfigOption = Annotated[
    str, typer.Option("--config", "-c", help=f"A preset ({', '.join(preset_names())}) or a YAML file.")
]
Overrides = Annotated[
    list[str] | None,
    typer.Argument(help="Dotted overrides, e.g. answers.num_samples=3 curate.known_threshold=0.7"),
]
RootOption = Annotated[str | None, typer.Option("--root", help="Artifact root (default: the config's artifact_root).")]
