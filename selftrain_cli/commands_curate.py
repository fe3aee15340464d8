"""Commands on curated data: `calibrate` (the curate thresholds on a score artifact) and `export-dataset`."""

from __future__ import annotations

from typing import Annotated

import typer

from selftrain_cli.lookup import key_or_newest, open_store
from selftrain_cli.options import ConfigOption, Overrides, RootOption
from selftrain_core.config.loading import DEFAULT_PRESET, load_run_config


def floats(text: str | None, option: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"{option} takes comma-separated numbers, e.g. 0.5,0.6,0.7") from None


def calibrate(
    score: Annotated[str | None, typer.Option("--score", help="Score artifact key (default: the newest).")] = None,
    known: Annotated[str | None, typer.Option(help="S_K thresholds to try, comma-separated.")] = None,
    answerable: Annotated[str | None, typer.Option(help="S_L thresholds to try, comma-separated.")] = None,
    wrong_f1: Annotated[float, typer.Option(help="A no-document sample is wrong below this token F1.")] = 0.3,
    config: ConfigOption = DEFAULT_PRESET,
    root: RootOption = None,
    overrides: Overrides = None,
) -> None:
    """Sweep the curate thresholds on a score artifact: data size and the scorer's precision at each."""
    from selftrain_cli.render import console, print_calibration
    from selftrain_core.stages.curate.calibration import sweep
    from selftrain_core.store import ArtifactRef, ArtifactStore

    cfg = load_run_config(config, overrides)
    store = ArtifactStore(root or cfg.artifact_root)
    ref = key_or_newest(store, "score", score)
    manifest = store.manifest("score", ref.key)
    answers_ref = next(ArtifactRef(**p) for p in manifest["parents"] if p["stage"] == "answers")
    answers = {a["answer_id"]: a for a in store.read_rows(answers_ref)}
    result = sweep(
        cfg.curate,
        store.read_rows(ref),
        answers,
        floats(known, "--known"),
        floats(answerable, "--answerable"),
        wrong_f1,
    )
    console.print(f"score artifact {ref.key} (scorer {manifest.get('scorer', {}).get('id')})")
    print_calibration(result, cfg.curate)


def export_dataset(
    out_dir: Annotated[str, typer.Argument(help="New folder for the dataset (save_to_disk) and its README.md.")],
    curate: Annotated[str | None, typer.Option("--curate", help="Curate artifact key (default: the newest).")] = None,
    config: ConfigOption = DEFAULT_PRESET,
    root: RootOption = None,
) -> None:
    """Export curated data as a Hugging Face dataset (dpo and sft splits) with a dataset card."""
    from selftrain_core.export.hf_dataset import export_dataset as export

    store = open_store(config, root)
    counts = export(store, key_or_newest(store, "curate", curate), out_dir)
    typer.echo(f"wrote {out_dir}: {counts} (load with datasets.load_from_disk({out_dir!r}); card: README.md)")
