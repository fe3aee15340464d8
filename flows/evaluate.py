"""Evaluate an existing checkpoint (a train artifact, by key) on the held-out questions of its own lineage."""

from __future__ import annotations

from prefect import flow

from selftrain_core.config import RunConfig
from selftrain_core.runs.evaluation_inputs import evaluation_inputs
from selftrain_core.runs.preflight import check_run_supported
from selftrain_core.stages.evaluate import stage as evaluate
from selftrain_core.store import ArtifactRef
from tasks.run_stage import run_task
from tasks.stages import evaluate_task


@flow(name="evaluate-checkpoint")
def evaluate_checkpoint(train_key: str, config: RunConfig | None = None) -> ArtifactRef:
    """Base vs the checkpoint of train artifact `train_key`; `config` sets the evaluation (and must name its base
    model). A key with no complete train artifact fails before any work."""
    cfg = config or RunConfig()
    check_run_supported(cfg)
    inputs = evaluation_inputs(cfg, train_key)
    plan = evaluate.plan(cfg, inputs.train, inputs.answers, inputs.score, inputs.chunk)
    return run_task(evaluate_task, plan, cfg)
