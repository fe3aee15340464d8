"""How a flow runs a stage's task: from the cache when its artifact is intact, recomputed when the artifact is
missing or corrupt, retried after transient failures."""

from __future__ import annotations

from prefect import Task

from selftrain_core.config import RunConfig
from selftrain_core.stages.base import StagePlan
from selftrain_core.store import ArtifactRef, ArtifactStore


def run_task(task: Task, plan: StagePlan, cfg: RunConfig) -> ArtifactRef:
    """Run a stage task; refresh Prefect's cache when the artifact is missing or corrupt, so it recomputes; retry it
    after a transient failure as `cfg.retries` says (tasks/retries.py decides what is transient)."""
    store = ArtifactStore(cfg.artifact_root)
    intact = store.is_complete(plan.stage, plan.key) and not store.verify(plan.stage, plan.key)
    retries = {"retries": cfg.retries.count, "retry_delay_seconds": cfg.retries.delay_s}
    return task.with_options(refresh_cache=not intact, **retries)(plan=plan, cfg=cfg)
