"""The self-training flow: ingest -> chunk -> questions -> answers -> score -> curate -> train -> evaluate, for
one or more rounds with a gate between them.

Each stage's plan (its artifact key) is computed here before the task runs; a task whose artifact is complete is
a cache hit (Prefect's result cache, keyed by the artifact key), and a task whose files are gone is refreshed.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from selftrain_core.config import RunConfig
from selftrain_core.runs.preflight import check_run_supported
from selftrain_core.runs.rounds import gate, local_adapter, next_round
from selftrain_core.stages import STAGES, StageName
from selftrain_core.stages.answers import stage as answers
from selftrain_core.stages.chunk import stage as chunk
from selftrain_core.stages.curate import stage as curate
from selftrain_core.stages.evaluate import stage as evaluate
from selftrain_core.stages.ingest import stage as ingest
from selftrain_core.stages.questions import stage as questions
from selftrain_core.stages.score import stage as score
from selftrain_core.stages.train import stage as train
from selftrain_core.store import ArtifactRef, ArtifactStore
from tasks.run_page import publish_run_page
from tasks.run_stage import run_task
from tasks.stages import (
    answers_task,
    chunk_task,
    curate_task,
    evaluate_task,
    ingest_task,
    questions_task,
    score_task,
    train_task,
)


def record_no_model(reason: str) -> None:
    """An empty curated dataset ends the run without training: say so in the log and on the run's page."""
    get_run_logger().warning("no model was trained: %s", reason)
    create_markdown_artifact(
        f"# No model was trained\n\n{reason}\n", key="self-train-outcome", description="why this run trained nothing"
    )


def run_round(cfg: RunConfig, stop_after: str) -> dict[str, ArtifactRef]:
    """One round's stages in order; ends early after `stop_after`, or before train when there is nothing to train."""
    last = STAGES.index(stop_after)
    refs: dict[str, ArtifactRef] = {}

    def done(stage: str, ref: ArtifactRef) -> bool:
        refs[stage] = ref
        return STAGES.index(stage) >= last

    if done("ingest", run_task(ingest_task, ingest.plan(cfg), cfg)):
        return refs
    if done("chunk", run_task(chunk_task, chunk.plan(cfg, refs["ingest"]), cfg)):
        return refs
    if done("questions", run_task(questions_task, questions.plan(cfg, refs["chunk"]), cfg)):
        return refs
    if done("answers", run_task(answers_task, answers.plan(cfg, refs["questions"], refs["chunk"]), cfg)):
        return refs
    if done("score", run_task(score_task, score.plan(cfg, refs["answers"]), cfg)):
        return refs
    if done("curate", run_task(curate_task, curate.plan(cfg, refs["score"], refs["answers"]), cfg)):
        return refs
    empty = train.missing_data(cfg, ArtifactStore(cfg.artifact_root), refs["curate"])
    if empty is not None:
        record_no_model(empty)
        return refs
    if done("train", run_task(train_task, train.plan(cfg, refs["curate"]), cfg)):
        return refs
    evaluate_plan = evaluate.plan(cfg, refs["train"], refs["answers"], refs["score"], refs["chunk"])
    done("evaluate", run_task(evaluate_task, evaluate_plan, cfg))
    return refs


def rounds_page(rows: list[dict[str, str]]) -> str:
    lines = ["# Self-training rounds", "", "| round | train | evaluate | gate |", "|---|---|---|---|"]
    lines += [f"| {r['round']} | `{r['train']}` | `{r['evaluate']}` | {r['gate']} |" for r in rows]
    return "\n".join(lines) + "\n"


def outcome_line(cfg: RunConfig, refs: dict[str, ArtifactRef], stop_after: str, rounds: int) -> str:
    if "evaluate" in refs:
        return f"Trained and evaluated {rounds} round(s); the last round's artifacts are returned."
    if "train" not in refs and STAGES.index(stop_after) >= STAGES.index("train"):
        return "No model was trained: curation left nothing to train on (see `self-train-outcome`)."
    return f"Stopped after {stop_after}, as asked."


@flow(name="self-train")
def self_train(config: RunConfig | None = None, stop_after: StageName = "evaluate") -> dict[str, ArtifactRef]:
    """`config.rounds.count` self-training rounds (round i+1 samples from and continues round i's adapter) while
    the gate passes; `stop_after` ends each round after that stage. Returns the last round's artifacts."""
    cfg = config or RunConfig()
    check_run_supported(cfg)  # hardware the config needs: fail before any work
    logger = get_run_logger()
    store = ArtifactStore(cfg.artifact_root)
    history: list[dict[str, str]] = []
    rounds: list[dict[str, ArtifactRef]] = []
    while True:
        refs = run_round(cfg, stop_after)
        rounds.append(refs)
        if "evaluate" not in refs:
            break
        metrics = store.manifest("evaluate", refs["evaluate"].key)["metrics"]
        decision = gate(cfg, metrics)
        history.append(
            {
                "round": str(cfg.iteration),
                "train": refs["train"].key,
                "evaluate": refs["evaluate"].key,
                "gate": ("pass: " if decision.passed else "stop: ") + decision.reason,
            }
        )
        logger.info("round %d: %s", cfg.iteration, history[-1]["gate"])
        if cfg.iteration >= cfg.rounds.count or not decision.passed:
            break
        cfg = next_round(cfg, local_adapter(store, refs["train"]))
    if cfg.rounds.count > 1:
        create_markdown_artifact(rounds_page(history), key="self-train-rounds", description="rounds and gate decisions")
    outcome = outcome_line(cfg, refs, stop_after, len(rounds))
    publish_run_page(cfg.name, rounds, [h["gate"] for h in history], outcome)
    logger.info("self-train finished: %s", {k: v.key for k, v in refs.items()})
    return refs
