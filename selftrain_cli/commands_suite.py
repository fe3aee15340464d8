"""`export-suite`: a run's hard questions as a versioned regression suite, for `evaluate.suite` to test models on."""

from __future__ import annotations

from typing import Annotated

import typer

from selftrain_cli.lookup import evaluation, key_or_newest
from selftrain_cli.options import ConfigOption, Overrides, RootOption
from selftrain_core.config.loading import DEFAULT_PRESET, load_run_config


def export_suite(
    out_dir: Annotated[
        str, typer.Argument(help="New folder for the suite: suite.jsonl, suite.json, the dataset and README.md.")
    ],
    score: Annotated[
        str | None,
        typer.Option("--score", help="Score artifact key (default: the evaluate artifact's, else the newest)."),
    ] = None,
    evaluate: Annotated[
        str | None,
        typer.Option(
            "--evaluate",
            help="Evaluate artifact (key or run id) made from that score artifact: also take the questions where "
            "the judge preferred base or its two orders disagreed.",
        ),
    ] = None,
    contradict: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=1.0, help="A no-document sample scoring at most this contradicts (default: curate's)."
        ),
    ] = None,
    config: ConfigOption = DEFAULT_PRESET,
    root: RootOption = None,
    overrides: Overrides = None,
) -> None:
    """Export the high-uncertainty questions of a run (unknown, contradicted, lost to base) as a regression suite."""
    from selftrain_core.export.suite import export_suite as export
    from selftrain_core.store import ArtifactRef, ArtifactStore

    cfg = load_run_config(config, overrides)
    store = ArtifactStore(root or cfg.artifact_root)
    evaluated = evaluation(store, evaluate) if evaluate else None
    if score is None and evaluated is not None:
        parents = store.manifest("evaluate", evaluated.key)["parents"]
        score = next(ArtifactRef(**p) for p in parents if p["stage"] == "score").key
    meta = export(store, key_or_newest(store, "score", score), out_dir, cfg.curate, contradict, evaluated)
    typer.echo(
        f"wrote {out_dir}: suite version {meta['version']}, {meta['rows']} questions {meta['reasons']} "
        f"(use it with evaluate.suite={out_dir})"
    )
