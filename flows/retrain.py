"""Scheduled retraining: run self-train when the source has documents the last successful run did not see.

"Last successful run" is read from the artifact store (selftrain_core.runs.new_documents), so it holds with an
empty Prefect database too. With nothing new the run records why on its page and trains nothing. Either way the
stages reuse every row the earlier runs computed (stages/reuse.py): a run pays for the new documents' rows.

mode full trains the base model on the whole updated corpus; mode continue samples through the last run's adapter
and keeps training it, and is refused when a document that adapter may have trained on is held out now (set
ingest.split_rule=stable and documents keep their split as the corpus grows).
"""

from __future__ import annotations

from typing import Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from flows.self_train import self_train
from selftrain_core.config import RunConfig
from selftrain_core.errors import ConfigError
from selftrain_core.runs.new_documents import LastRun, document_changes, held_out_now, last_run
from selftrain_core.runs.preflight import check_run_supported
from selftrain_core.runs.rounds import continue_from, local_adapter
from selftrain_core.stages.ingest import stage as ingest
from selftrain_core.store import ArtifactRef, ArtifactStore
from tasks.run_stage import run_task
from tasks.stages import ingest_task


def record_outcome(text: str) -> None:
    get_run_logger().info(text.replace("\n", " "))
    create_markdown_artifact(text, key="retrain-outcome", description="why this retraining run did or did not train")


@flow(name="retrain")
def retrain(config: RunConfig | None = None, mode: Literal["full", "continue"] = "full") -> dict[str, ArtifactRef]:
    """Ingest the source; run self-train if documents were added or changed since the last successful run.

    mode: full trains the base model on the whole updated corpus; continue keeps training the last run's adapter.
    """
    cfg = config or RunConfig()
    check_run_supported(cfg)  # before any work: a GPU deployment on a worker without one writes nothing
    if mode == "continue" and cfg.train.finetune == "full":
        raise ConfigError("retrain mode=continue continues a LoRA adapter: it needs train.finetune=lora or qlora")
    store = ArtifactStore(cfg.artifact_root)
    last = last_run(store, cfg)  # before this run's ingest joins the store
    current = run_task(ingest_task, ingest.plan(cfg), cfg)
    if last is not None:
        previous = last.ingest
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
        if mode == "continue":
            cfg = continued(store, cfg, last, current)
        how = f"continuing the adapter of train `{last.train.key}`" if mode == "continue" else "from the base model"
        record_outcome(
            f"# Retraining on {len(added)} new or changed documents\n\nsince ingest `{previous.key}`, {how}: {shown}\n"
        )
    else:
        record_outcome(
            "# Retraining\n\nno successful run of this configuration (source, model and result settings) in the "
            "artifact store yet.\n"
        )
    return self_train(config=cfg)


def continued(store: ArtifactStore, cfg: RunConfig, last: LastRun, current: ArtifactRef) -> RunConfig:
    """`cfg` continuing the last run's adapter; refused (with the outcome recorded) when a document it may have
    trained on is held out now."""
    if last.train is None:
        text = (
            "# Not continued\n\nthe checkpoint of the last successful run of this configuration is gone from the "
            "artifact store (its train artifact was deleted): run mode=full.\n"
        )
        record_outcome(text)
        raise ConfigError(text.replace("\n", " ").strip("# "))
    moved = held_out_now(store, last.ingest, current)
    if moved:
        shown = ", ".join(f"`{d}`" for d in moved[:10]) + (" ..." if len(moved) > 10 else "")
        text = (
            f"# Not continued\n\n{len(moved)} documents that were in training for the adapter of train "
            f"`{last.train.key}` are held out now ({shown}): evaluating its continuation on them would measure what "
            "it trained on. Set ingest.split_rule=stable (a document keeps its split as the corpus grows; it starts "
            "a new run of its own) or run mode=full.\n"
        )
        record_outcome(text)
        raise ConfigError(text.replace("\n", " ").strip("# "))
    return continue_from(cfg, local_adapter(store, last.train))
