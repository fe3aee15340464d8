"""The compare flow: every curate strategy on the same source, questions and samples, trained and evaluated
together, in one table (selftrain_core/runs/compare.py says how the arms are made). Two arms add artifacts of their
own: self-rewarding its score (the policy's grades), inner-knowledge its answers (the shared samples and K
explicitations, sampled again in one artifact) and their score."""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from flows.experiment import evaluate_arms, train_arm
from flows.self_train import run_round
from selftrain_core.config import RunConfig
from selftrain_core.errors import StageInputError
from selftrain_core.runs.compare import ARMS, comparison_table, strategy_configs
from selftrain_core.runs.preflight import check_run_supported
from selftrain_core.stages.answers import stage as answers
from selftrain_core.stages.score import stage as score
from selftrain_core.store import ArtifactStore
from tasks.run_stage import run_task
from tasks.stages import answers_task, score_task

Arm = Literal[ARMS]


@flow(name="compare")
def compare(config: RunConfig | None = None, arms: list[Arm] | None = None) -> dict[str, Any]:
    """Train one arm per curate strategy (and knowledge-detection without its filter) and evaluate them all
    against base on the same questions; the table is the `compare` artifact and the return value.

    Args:
        config: The run config every arm starts from (its strategy, method and scorer are set per arm).
        arms: The arms to train (all when empty). self_rewarding scores every sample with the policy as judge, and
            inner_knowledge samples its own answers: each costs about as much again as the shared stages.
    """
    cfg = config or RunConfig()
    chosen = strategy_configs(cfg, arms)
    for arm_cfg in chosen.values():
        check_run_supported(arm_cfg)  # every arm's scorer and method, before any work
    store = ArtifactStore(cfg.artifact_root)
    refs = run_round(cfg, stop_after="score")
    trained, seen = {}, {}
    for name, arm_cfg in chosen.items():
        arm_refs = dict(refs)
        if arm_cfg.answers != cfg.answers:  # a strategy with a generation step of its own (inner-knowledge)
            plan = answers.plan(arm_cfg, refs["questions"], refs["chunk"])
            arm_refs["answers"] = run_task(answers_task, plan, arm_cfg)
        if arm_cfg.score != cfg.score or arm_refs["answers"] != refs["answers"]:  # its own judge, or own samples
            arm_refs["score"] = run_task(score_task, score.plan(arm_cfg, arm_refs["answers"]), arm_cfg)
        try:
            _, trained[name] = train_arm(arm_cfg, arm_refs)
        except StageInputError as exc:  # this strategy found nothing to train on here: a row that says so
            seen[name] = {"method": arm_cfg.train.method, "pairs": 0, "sft_rows": 0, "seconds": 0.0, "none": str(exc)}
            get_run_logger().warning("arm %s trains nothing: %s", name, exc)
            continue
        manifest = store.manifest("train", trained[name].key)
        seen[name] = {"method": arm_cfg.train.method, "pairs": manifest.get("pairs", 0),
                      "sft_rows": manifest.get("sft_rows", 0), "seconds": manifest["seconds"]}  # fmt: skip
        get_run_logger().info("arm %s: train %s", name, trained[name].key)
    if not trained:
        raise StageInputError("no strategy found anything to train on: " + "; ".join(s["none"] for s in seen.values()))
    report = evaluate_arms(cfg, refs, trained)
    table = comparison_table(store.manifest("evaluate", report.key)["metrics"], seen)
    page = f"# Strategies compared: {cfg.name}\n\nEvaluate `{report.key}` (its report.md has every table).\n\n{table}\n"
    create_markdown_artifact(page, key="compare", description="every curate strategy against base")
    return {"evaluate": report, "train": trained, "table": table}
