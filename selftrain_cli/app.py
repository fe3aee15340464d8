"""`selftrain`: run the self-training flow (whole or up to one stage), inspect artifacts, walk lineage.

Exit codes: 0 done; 2 a mistake in input or config (the message names it);
3 a server stayed down (finished work is kept: run the same command again)."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer
import yaml

from selftrain_core.config import STAGES
from selftrain_core.config.loading import load_run_config
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


artifacts_app = typer.Typer(no_args_is_help=True, help="List and inspect artifacts.")
app.add_typer(artifacts_app, name="artifacts")

ConfigOption = Annotated[str | None, typer.Option("--config", "-c", help="A preset name (offline-cpu) or a YAML file.")]
Overrides = Annotated[
    list[str] | None,
    typer.Argument(help="Dotted overrides, e.g. answers.num_samples=3 curate.known_threshold=0.7"),
]
RootOption = Annotated[str | None, typer.Option("--root", help="Artifact root (default: the config's).")]


def _run(config: str | None, overrides: list[str] | None, stop_after: str) -> None:
    cfg = load_run_config(config, overrides)  # a bad config fails here, before any work
    from flows.self_train import self_train
    from selftrain_cli.render import console, print_lineage, print_run
    from selftrain_core.store import ArtifactStore
    from selftrain_core.store.lineage import walk

    refs = self_train(config=cfg, stop_after=stop_after)
    store = ArtifactStore(cfg.artifact_root)
    print_run(store, refs)
    if "curate" in refs:
        pairs = store.read_table(refs["curate"]).column("pair_id").to_pylist()
        if pairs:
            console.print(f"\n[bold]Lineage[/bold] of training pair {pairs[0]} (selftrain lineage {pairs[0]}):")
            print_lineage(walk(store, pairs[0]))


@app.command()
def run(config: ConfigOption = None, overrides: Overrides = None) -> None:
    """Run one full self-training iteration (every stage; finished stages are cache hits)."""
    _run(config, overrides, "evaluate")


def _stage_command(stage: str):
    def command(config: ConfigOption = None, overrides: Overrides = None) -> None:
        _run(config, overrides, stage)

    command.__doc__ = f"Run the pipeline up to and including the {stage} stage."
    return command


for _stage in STAGES:
    app.command(name=_stage)(_stage_command(_stage))


@app.command()
def experiment(
    config: ConfigOption = "experiment",
    grid: Annotated[
        list[str] | None,
        typer.Option("--grid", help="A training setting and its values, e.g. train.method=dpo,sft (repeatable)."),
    ] = None,
    variant: Annotated[
        list[str] | None,
        typer.Option(
            "--variant",
            help="A setting to compare, 'train.method=sft train.sft_num_epochs=3' (repeatable, not with --grid).",
        ),
    ] = None,
    metric: Annotated[str, typer.Option(help="Paired gain that picks the setting on the selection half.")] = "correct",
    overrides: Overrides = None,
) -> None:
    """Sweep training settings on half of the documents, then report the chosen one against base, the same
    budget without knowledge filtering and SFT only on the other half."""
    from selftrain_core.runs.experiment import parse_grid, parse_variant, sweep_variants

    cfg = load_run_config(config, overrides)
    spec = parse_grid(grid or [])
    listed = [parse_variant(v) for v in variant or []]
    sweep_variants(spec, listed)  # fails before any work when both are given
    from flows.experiment import experiment as experiment_flow
    from selftrain_cli.render import console
    from selftrain_core.store import ArtifactStore

    result = experiment_flow(config=cfg, grid=spec, metric=metric, variants=listed or None)
    store = ArtifactStore(cfg.artifact_root)
    for name in ("selection", "report"):
        ref = result[name]
        if ref is None:
            continue
        console.print(f"\n[bold]{name}[/bold] evaluation ({ref.uri}/report.md):\n")
        report = store.fs.cat_file(f"{store.dir(ref.stage, ref.key)}/report.md").decode("utf-8")
        console.print(report, markup=False, highlight=False, soft_wrap=True)
    console.print(f"chosen on the selection half: {result['chosen']}; budget {result['budget']} questions")


@app.command("config")
def show_config(config: ConfigOption = None, overrides: Overrides = None) -> None:
    """Print the resolved run config as YAML (validates it)."""
    cfg = load_run_config(config, overrides)
    typer.echo(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))


@app.command()
def lineage(row_id: str, config: ConfigOption = None, root: RootOption = None) -> None:
    """Why was this row made? Walk ROW_ID (pair-, score-, ans-, q-, chunk-, doc-) down to its document."""
    from selftrain_cli.render import print_lineage
    from selftrain_core.store import ArtifactStore
    from selftrain_core.store.lineage import walk

    store = ArtifactStore(root or load_run_config(config).artifact_root)
    print_lineage(walk(store, row_id))


@artifacts_app.command("list")
def artifacts_list(
    stage: str | None = None,
    config: ConfigOption = None,
    root: RootOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per artifact (its manifest), a list.")
    ] = False,
) -> None:
    """List complete artifacts, newest first."""
    from selftrain_cli.render import artifacts_table, console
    from selftrain_core.store import ArtifactStore

    store = ArtifactStore(root or load_run_config(config).artifact_root)
    if as_json:
        typer.echo(json.dumps(store.list(stage), indent=2))
        return
    console.print(artifacts_table(store.list(stage)))


@artifacts_app.command("show")
def artifacts_show(stage: str, key: str, config: ConfigOption = None, root: RootOption = None) -> None:
    """Print an artifact's manifest and verify its checksums."""
    from selftrain_core.store import ArtifactStore

    store = ArtifactStore(root or load_run_config(config).artifact_root)
    manifest = store.manifest(stage, key)
    typer.echo(json.dumps(manifest, indent=2))
    bad = store.verify(stage, key)
    typer.echo("checksums: ok" if not bad else f"checksums: MISMATCH in {bad}")


def _artifact(store, stage: str, key: str | None):
    from selftrain_core.errors import ArtifactNotFoundError

    if key is None:
        found = store.list(stage)
        if not found:
            raise ArtifactNotFoundError(f"no {stage} artifact under {store.url}; run `selftrain {stage}` first")
        key = found[0]["key"]
    if not store.is_complete(stage, key):
        raise ArtifactNotFoundError(f"no complete {stage} artifact {key} under {store.url}")
    return store.ref(stage, key)


def _floats(text: str | None, option: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"{option} takes comma-separated numbers, e.g. 0.5,0.6,0.7") from None


@app.command()
def calibrate(
    score: Annotated[str | None, typer.Option("--score", help="Score artifact key (default: the newest).")] = None,
    known: Annotated[str | None, typer.Option(help="S_K thresholds to try, comma-separated.")] = None,
    answerable: Annotated[str | None, typer.Option(help="S_L thresholds to try, comma-separated.")] = None,
    wrong_f1: Annotated[float, typer.Option(help="A no-document sample is wrong below this token F1.")] = 0.3,
    config: ConfigOption = None,
    root: RootOption = None,
    overrides: Overrides = None,
) -> None:
    """Sweep the curate thresholds on a score artifact: data size and the scorer's precision at each."""
    from selftrain_cli.render import console, print_calibration
    from selftrain_core.stages.curate.calibration import sweep
    from selftrain_core.store import ArtifactRef, ArtifactStore

    cfg = load_run_config(config, overrides)
    store = ArtifactStore(root or cfg.artifact_root)
    ref = _artifact(store, "score", score)
    manifest = store.manifest("score", ref.key)
    answers_ref = next(ArtifactRef(**p) for p in manifest["parents"] if p["stage"] == "answers")
    answers = {a["answer_id"]: a for a in store.read_rows(answers_ref)}
    result = sweep(
        cfg.curate,
        store.read_rows(ref),
        answers,
        _floats(known, "--known"),
        _floats(answerable, "--answerable"),
        wrong_f1,
    )
    console.print(f"score artifact {ref.key} (scorer {manifest.get('scorer', {}).get('id')})")
    print_calibration(result, cfg.curate)


@app.command("export-dataset")
def export_dataset_command(
    out_dir: Annotated[str, typer.Argument(help="New folder for the dataset (save_to_disk) and its README.md.")],
    curate: Annotated[str | None, typer.Option("--curate", help="Curate artifact key (default: the newest).")] = None,
    config: ConfigOption = None,
    root: RootOption = None,
) -> None:
    """Export curated data as a Hugging Face dataset (dpo and sft splits) with a dataset card."""
    from selftrain_core.export.hf_dataset import export_dataset
    from selftrain_core.store import ArtifactStore

    store = ArtifactStore(root or load_run_config(config).artifact_root)
    ref = _artifact(store, "curate", curate)
    counts = export_dataset(store, ref, out_dir)
    typer.echo(f"wrote {out_dir}: {counts} (load with datasets.load_from_disk({out_dir!r}); card: README.md)")


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
