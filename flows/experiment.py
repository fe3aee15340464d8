"""The experiment flow: sweep training settings on the selection half, then compare the chosen setting with the
ablation arms on the report half (selftrain_core/runs/experiment.py says how). Every stage is a cached task, so a
rerun, or a second grid over the same corpus, recomputes only what changed."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from flows.self_train import run_round
from selftrain_core.config import RunConfig
from selftrain_core.config.loading import load_run_config
from selftrain_core.errors import StageInputError
from selftrain_core.runs.experiment import (
    ablation_configs,
    for_documents,
    pick_best,
    sweep_table,
    sweep_variants,
    trained_questions,
    variant_name,
    with_settings,
)
from selftrain_core.runs.preflight import check_run_supported
from selftrain_core.stages.curate import stage as curate
from selftrain_core.stages.evaluate import stage as evaluate
from selftrain_core.stages.train import stage as train
from selftrain_core.store import ArtifactRef, ArtifactStore
from tasks.run_stage import run_task
from tasks.stages import curate_task, evaluate_task, train_task


def train_arm(cfg: RunConfig, refs: dict[str, ArtifactRef]) -> tuple[ArtifactRef, ArtifactRef]:
    """(curate, train) refs of one arm, from the shared score and answers artifacts."""
    curated = run_task(curate_task, curate.plan(cfg, refs["score"], refs["answers"]), cfg)
    missing = train.missing_data(cfg, ArtifactStore(cfg.artifact_root), curated)
    if missing is not None:
        raise StageInputError(f"an experiment arm has nothing to train on: {missing}")
    return curated, run_task(train_task, train.plan(cfg, curated), cfg)


def evaluate_arms(cfg: RunConfig, refs: dict[str, ArtifactRef], arms: dict[str, ArtifactRef]) -> ArtifactRef:
    plan = evaluate.plan(cfg, arms, refs["answers"], refs["score"], refs["chunk"])
    return run_task(evaluate_task, plan, cfg)


@flow(name="experiment")
def experiment(
    config: RunConfig | None = None,
    grid: dict[str, list[Any]] | None = None,
    metric: str = "correct",
    variants: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Sweep `grid` (dotted training settings -> values) or the listed `variants` on the selection half; report the
    chosen setting, the same budget without knowledge filtering and SFT only against base on the report half.
    With nothing to sweep the config as given is the method and only the report half is evaluated."""
    cfg = config or load_run_config("experiment")
    check_run_supported(cfg)
    logger = get_run_logger()
    store = ArtifactStore(cfg.artifact_root)
    refs = run_round(cfg, stop_after="score")
    variants = sweep_variants(grid, variants)
    configs = [with_settings(cfg, v) for v in variants]
    selection, metrics, best = None, [], variant_name(0)
    if variants != [{}]:  # with nothing to choose, the config as given is the method and no half is spent on choosing
        trained = {variant_name(i): train_arm(c, refs)[1] for i, c in enumerate(configs)}
        selection = evaluate_arms(for_documents(cfg, "select"), refs, trained)
        metrics = store.manifest("evaluate", selection.key)["metrics"]
        best = pick_best(metrics, list(trained), metric)
        logger.info("chosen on the selection half: %s %s", best, variants[int(best[1:])])
    method = configs[int(best[1:])]
    budget = trained_questions(store, train_arm(method, refs)[0])
    arms = {name: train_arm(c, refs)[1] for name, c in ablation_configs(method, budget).items()}
    report = evaluate_arms(for_documents(cfg, "report"), refs, arms)
    sweep = (
        [f"## Sweep on the selection half (evaluate `{selection.key}`), chosen by mean paired {metric} gain", ""]
        + [sweep_table(variants, metrics, metric, best), ""]
        if selection
        else ["No grid: the config as given is the method (nothing was chosen on these documents).", ""]
    )
    page = "\n".join(
        [f"# Experiment: {cfg.name}", "", *sweep]
        + [
            f"## Arms on the report half: evaluate `{report.key}` (its report.md has every table); "
            f"the no-filtering arm trains on at most {budget} questions, as many as the method"
        ]
    )
    create_markdown_artifact(page, key="experiment", description="sweep and ablation arms")
    return {"selection": selection, "report": report, "chosen": variants[int(best[1:])], "budget": budget}
