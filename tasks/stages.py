"""The stage tasks. Each is thin: run the core stage under the artifact-key cache and publish its artifacts."""

from __future__ import annotations

from prefect import task

from selftrain_core.config import RunConfig
from selftrain_core.stages.answers import stage as answers
from selftrain_core.stages.base import StagePlan
from selftrain_core.stages.chunk import stage as chunk
from selftrain_core.stages.curate import stage as curate
from selftrain_core.stages.evaluate import stage as evaluate
from selftrain_core.stages.ingest import stage as ingest
from selftrain_core.stages.questions import stage as questions
from selftrain_core.stages.score import stage as score
from selftrain_core.stages.train import stage as train
from selftrain_core.store import ArtifactRef
from tasks.stage_task import STAGE_TASK_OPTIONS, run_stage


@task(name="ingest", **STAGE_TASK_OPTIONS)
def ingest_task(plan: StagePlan, cfg: RunConfig) -> ArtifactRef:
    return run_stage(ingest.run, plan, cfg)


@task(name="chunk", **STAGE_TASK_OPTIONS)
def chunk_task(plan: StagePlan, cfg: RunConfig) -> ArtifactRef:
    return run_stage(chunk.run, plan, cfg)


@task(name="questions", **STAGE_TASK_OPTIONS)
def questions_task(plan: StagePlan, cfg: RunConfig) -> ArtifactRef:
    return run_stage(questions.run, plan, cfg, progress=True)


@task(name="answers", **STAGE_TASK_OPTIONS)
def answers_task(plan: StagePlan, cfg: RunConfig) -> ArtifactRef:
    return run_stage(answers.run, plan, cfg, progress=True)


@task(name="score", **STAGE_TASK_OPTIONS)
def score_task(plan: StagePlan, cfg: RunConfig) -> ArtifactRef:
    return run_stage(score.run, plan, cfg)


@task(name="curate", **STAGE_TASK_OPTIONS)
def curate_task(plan: StagePlan, cfg: RunConfig) -> ArtifactRef:
    return run_stage(curate.run, plan, cfg)


@task(name="train", **STAGE_TASK_OPTIONS)
def train_task(plan: StagePlan, cfg: RunConfig) -> ArtifactRef:
    return run_stage(train.run, plan, cfg, progress=True)


@task(name="evaluate", **STAGE_TASK_OPTIONS)
def evaluate_task(plan: StagePlan, cfg: RunConfig) -> ArtifactRef:
    return run_stage(evaluate.run, plan, cfg)
