"""Publish an existing checkpoint (a train artifact, by key) and the curated data it was trained on to the Hugging
Face Hub, as `config.publish` says (repo ids, branch, privacy, where the token is read from)."""

from __future__ import annotations

from prefect import flow

from selftrain_core.config import RunConfig
from selftrain_core.store import ArtifactStore
from tasks.publish import publish_task


@flow(name="publish")
def publish(train_key: str, config: RunConfig | None = None, evaluate_key: str | None = None) -> list[dict[str, str]]:
    """Push train artifact `train_key` of `config.artifact_root`: its checkpoint to publish.model_repo_id, its
    curated data to publish.dataset_repo_id; `evaluate_key` (an evaluate artifact of that checkpoint) gives the
    model card its evaluation. A missing artifact or token, or a config naming no repo, fails before any push."""
    cfg = config or RunConfig()
    store = ArtifactStore(cfg.artifact_root)
    evaluate = store.ref("evaluate", evaluate_key) if evaluate_key else None
    return publish_task(cfg, store.ref("train", train_key), evaluate)
