"""What every stage task shares: the cache key (the artifact key, never the run id), run info from Prefect's
runtime for the manifest, and the Prefect artifacts a person looks at (summary and sample rows)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import (
    create_image_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.context import TaskRunContext
from prefect.runtime import flow_run, task_run

from selftrain_core.config import RunConfig
from selftrain_core.hashing import stable_hash
from selftrain_core.stages.base import RunInfo, StagePlan
from selftrain_core.store import ArtifactRef, ArtifactStore
from tasks.retries import retry_transient

StageRun = Callable[..., ArtifactRef]  # selftrain_core.stages.<stage>.run


def artifact_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """The stage's artifact key: same settings, parents, models and prompts -> same key, in any flow run.

    The artifact root joins it because the cached result (an ArtifactRef) points into one root.
    """
    plan: StagePlan = parameters["plan"]
    root = stable_hash(ArtifactStore(parameters["cfg"].artifact_root).uri(plan.stage, plan.key), 8)
    return f"selftrain-{plan.stage}-{plan.key}-{root}"


STAGE_TASK_OPTIONS: dict[str, Any] = {
    "retry_condition_fn": retry_transient,  # a server that stayed down, never a user's mistake (counts: cfg.retries)
    "cache_key_fn": artifact_cache_key,
    "persist_result": True,
    "result_serializer": "json",  # no pickle anywhere: the result is a small ArtifactRef
}


def current_run_info(cfg: RunConfig) -> RunInfo:
    """The self-train run id is the root flow run's id (the same for every stage of one run)."""
    flow_run_id = flow_run.id
    return RunInfo(
        run_id=str(flow_run.root_flow_run_id or flow_run_id) if flow_run_id else None,
        iteration=cfg.iteration,
        flow_run_id=str(flow_run_id) if flow_run_id else None,
        task_run_id=str(task_run.id) if task_run.id else None,
    )


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        if value and isinstance(value[0], dict) and "content" in value[0]:
            value = value[-1]["content"]
        else:
            return f"[{len(value)} items]"
    if isinstance(value, str) and len(value) > 120:
        return value[:117] + "..."
    return value


def summary_markdown(manifest: dict[str, Any]) -> str:
    lines = [
        f"# {manifest['stage']} `{manifest['key']}`",
        "",
        f"- rows: {json.dumps(manifest.get('row_counts', {}))}",
        f"- drops by reason: {json.dumps(manifest.get('drops', {}))}",
        f"- seconds: {manifest.get('seconds')}",
        f"- parents: {', '.join(p['stage'] + '/' + p['key'] for p in manifest.get('parents', [])) or 'none'}",
    ]
    for field in ("thresholds", "splits", "labels", "final_metrics"):
        if manifest.get(field):
            lines.append(f"- {field}: {json.dumps(manifest[field])}")
    return "\n".join(lines)


def publish(store: ArtifactStore, ref: ArtifactRef) -> None:
    """A markdown summary and a table of sample rows, as Prefect artifacts of this task run."""
    manifest = store.manifest(ref.stage, ref.key)
    create_markdown_artifact(
        summary_markdown(manifest), key=f"{ref.stage}-summary", description=f"{ref.stage} artifact {ref.uri}"
    )
    table = "metrics" if ref.stage == "evaluate" else "data"
    if table in manifest.get("tables", {}):
        rows = store.read_table(ref, table).slice(0, 10).to_pylist()
        if rows:
            create_table_artifact(
                [{k: _cell(v) for k, v in row.items()} for row in rows],
                key=f"{ref.stage}-sample",
                description=f"first rows of {ref.stage}/{ref.key}",
            )


def publish_report(store: ArtifactStore, ref: ArtifactRef) -> None:
    """The evaluation report with its plots inlined (the UI cannot follow paths into the artifact store)."""
    base = store.dir(ref.stage, ref.key)
    report = store.fs.cat_file(f"{base}/report.md").decode("utf-8")
    for rel in store.manifest(ref.stage, ref.key)["files"]:
        if rel.startswith("plots/") and rel.endswith(".png"):
            uri = "data:image/png;base64," + base64.b64encode(store.fs.cat_file(f"{base}/{rel}")).decode("ascii")
            report = report.replace(f"]({rel})", f"]({uri})")
            name = rel.removeprefix("plots/").removesuffix(".png")
            create_image_artifact(uri, key=f"evaluation-{name}", description=f"{rel} of evaluate/{ref.key}")
    create_markdown_artifact(report, key="evaluation-report", description=f"evaluation report {ref.uri}")


def progress_reporter(stage: str, every_s: float = 2.0) -> Callable[[float], None]:
    """A percentage callback that keeps a Prefect progress artifact current (at most one update per `every_s`)."""
    artifact_id = create_progress_artifact(0.0, key=f"{stage}-progress", description=f"{stage}: share of work done")
    last = [0.0]

    def report(percent: float) -> None:
        now = time.monotonic()
        if percent >= 100.0 or now - last[0] >= every_s:
            last[0] = now
            update_progress_artifact(artifact_id, min(percent, 100.0))

    return report


def run_stage(stage_run: StageRun, plan: StagePlan, cfg: RunConfig, progress: bool = False) -> ArtifactRef:
    """Run a core stage with Prefect's logger, run ids and (for long stages) a progress artifact; publish results."""
    store = ArtifactStore(cfg.artifact_root)
    logger = get_run_logger()
    extra = {"progress": progress_reporter(plan.stage)} if progress else {}
    ref = stage_run(cfg, plan, store, current_run_info(cfg), logger.info, **extra)
    if progress:
        extra["progress"](100.0)  # also after a cache hit, which reports nothing
    publish(store, ref)
    if ref.stage == "evaluate":
        publish_report(store, ref)
    return ref
