"""Commands that run flows: `run` (every stage), one command per stage (up to it), `experiment`, and `config`
(the resolved config, without running anything)."""

from __future__ import annotations

from typing import Annotated

import typer
import yaml

from selftrain_cli.options import ConfigOption, Overrides
from selftrain_core.config import RunConfig
from selftrain_core.config.loading import DEFAULT_PRESET, load_run_config


def checked_config(config: str, overrides: list[str] | None) -> RunConfig:
    """The run config, validated and checked against this machine (models, prompts, device, store): a mistake
    fails here in seconds, before Prefect's temporary server starts (the flow checks again: deployments)."""
    from selftrain_core.runs.preflight import check_run_supported

    cfg = load_run_config(config, overrides)
    check_run_supported(cfg)
    return cfg


def run_until(config: str, overrides: list[str] | None, stop_after: str) -> None:
    cfg = checked_config(config, overrides)
    from flows.self_train import self_train
    from selftrain_cli.render import console, print_lineage, print_run
    from selftrain_cli.report_view import print_report
    from selftrain_core.store import ArtifactStore
    from selftrain_core.store.lineage import walk

    refs = self_train(config=cfg, stop_after=stop_after)
    store = ArtifactStore(cfg.artifact_root)
    print_run(store, refs)
    if "evaluate" in refs:
        print_report(store, refs["evaluate"])
    if "curate" in refs:
        pairs = store.read_table(refs["curate"]).column("pair_id").to_pylist()
        if pairs:
            console.print(f"\n[bold]Lineage[/bold] of training pair {pairs[0]} (selftrain lineage {pairs[0]}):")
            print_lineage(walk(store, pairs[0]))


def run(config: ConfigOption = DEFAULT_PRESET, overrides: Overrides = None) -> None:
    """Run one full self-training iteration (every stage; finished stages are cache hits)."""
    run_until(config, overrides, "evaluate")


def stage_command(stage: str):
    """The command `selftrain <stage>`: the pipeline up to and including that stage."""

    def command(config: ConfigOption = DEFAULT_PRESET, overrides: Overrides = None) -> None:
        run_until(config, overrides, stage)

    command.__doc__ = f"Run the pipeline up to and including the {stage} stage."
    return command


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

    cfg = checked_config(config, overrides)
    spec = parse_grid(grid or [])
    listed = [parse_variant(v) for v in variant or []]
    sweep_variants(spec, listed)  # fails before any work when both are given
    from flows.experiment import experiment as experiment_flow
    from selftrain_cli.render import console
    from selftrain_cli.report_view import print_report
    from selftrain_core.store import ArtifactStore

    result = experiment_flow(config=cfg, grid=spec, metric=metric, variants=listed or None)
    store = ArtifactStore(cfg.artifact_root)
    for name in ("selection", "report"):
        if result[name] is not None:
            console.print(f"\n[bold]{name} half[/bold]:")
            print_report(store, result[name])
    console.print(f"chosen on the selection half: {result['chosen']}; budget {result['budget']} questions")


def show_config(config: ConfigOption = DEFAULT_PRESET, overrides: Overrides = None) -> None:
    """Print the resolved run config as YAML (validates it)."""
    cfg = load_run_config(config, overrides)
    typer.echo(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))


def compare(
    config: ConfigOption = DEFAULT_PRESET,
    arm: Annotated[
        list[str] | None,
        typer.Option("--arm", help="An arm to train, e.g. knowledge_detection or no_filter (repeatable; default all)."),
    ] = None,
    overrides: Overrides = None,
) -> None:
    """Train every curate strategy on the same questions and samples and evaluate them against base together:
    one table of training rows, time and paired differences with intervals."""
    from selftrain_core.runs.compare import strategy_configs

    cfg = checked_config(config, overrides)
    strategy_configs(cfg, arm)  # an unknown arm fails here, before Prefect starts
    from flows.compare import compare as compare_flow
    from selftrain_cli.render import console

    result = compare_flow(config=cfg, arms=arm)
    console.print(f"evaluate {result['evaluate'].key}")
    console.print(result["table"], markup=False)
