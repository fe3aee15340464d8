"""Scheduled retraining: run self-train when the source has documents the last successful run did not see.

"Last successful run" is read from the artifact store (selftrain_core.runs.new_documents), so it holds with an
empty Prefect database too. With nothing new the run records why on its page and trains nothing.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from flows.self_train import self_train
from selftrain_core.config import RunConfig
from selftrain_core.runs.new_documents import document_changes, last_trained_ingest
from selftrain_core.runs.preflight import check_run_supported
from selftrain_core.stages.ingest import stage as ingest
from selftrain_core.store import ArtifactRef, ArtifactStore
from tasks.run_stage import run_task
from tasks.stages import ingest_task


def record_outcome(text: str) -> None:
    get_run_logger().info(text.replace("\n", " "))
    create_markdown_artifact(text, key="retrain-outcome", description="why this retraining run did or did not train")


@flow(name="retrain")
def retrain(config: RunConfig | None = None) -> dict[str, ArtifactRef]:
    """Ingest the source; run self-train if documents were added or changed since the last successful run."""
    cfg = config or RunConfig()
    check_run_supported(cfg)  # before any work: a GPU deployment on a worker without one writes nothing
    store = ArtifactStore(cfg.artifact_root)
    previous = last_trained_ingest(store, cfg)  # before this run's ingest joins the store
    current = run_task(ingest_task, ingest.plan(cfg), cfg)
    if previous is not None:
        added, removed = document_changes(store, previous, current)
        if not added:
            gone = f" ({len(removed)} documents were removed: nothing new to learn from)" if removed else ""
            record_outcome(
                f"# No new documents\n\ningest `{current.key}` has no document that ingest `{previous.key}` (behind "
                f"the last successful run of this configuration) lacked or held with other text{gone}; nothing was "
                "trained.\n"
            )
            return {"ingest": current}
        shown = ", ".join(f"`{d}`" for d in added[:20]) + (" ..." if len(added) > 20 else "")
        record_outcome(
            f"# Retraining on {len(added)} new or changed documents\n\nsince ingest `{previous.key}`: {shown}\n"
        )
    else:
        record_outcome(
            "# Retraining\n\nno successful run of this configuration (source, model and result settings) in the "
            "artifact store yet.\n"
        )
    return self_train(config=cfg)
