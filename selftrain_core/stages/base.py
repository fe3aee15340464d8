"""What every stage shares: its plan (artifact key from settings, parents, models, prompts) and its execution.

A stage's key hashes the settings that change results, its parents' keys, its version constant and the
fingerprints of the models and prompt templates it uses, so a cache hit is safe and any change recomputes
exactly the stages below it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from selftrain_core.errors import SelftrainError
from selftrain_core.hashing import stable_hash
from selftrain_core.store import ArtifactRef, ArtifactStore, ArtifactWriter
from selftrain_core.store.lock import artifact_lock
from selftrain_core.store.writer import PROGRESS

_PACKAGES = (
    "selftrain",
    "torch",
    "transformers",
    "trl",
    "peft",
    "sentence-transformers",
    "pyarrow",
    "datasets",
)


class StagePlan(BaseModel):
    """Everything that identifies a stage's output, computed before any work."""

    model_config = ConfigDict(frozen=True)
    stage: str
    version: int
    key: str
    settings: dict[str, Any]
    runtime: dict[str, Any] = Field(default_factory=dict)
    parents: list[ArtifactRef] = Field(default_factory=list)
    models: list[dict[str, Any]] = Field(default_factory=list)
    prompts: list[dict[str, Any]] = Field(default_factory=list)
    work_key: str = ""  # what the stage does to one input item, whatever the other items are (stages/reuse.py)

    def parent(self, stage: str) -> ArtifactRef:
        return next(p for p in self.parents if p.stage == stage)


def make_plan(
    stage: str,
    version: int,
    settings: dict[str, Any],
    parents: list[ArtifactRef] = (),
    models: list[dict[str, Any]] = (),
    prompts: list[dict[str, Any]] = (),
    runtime: dict[str, Any] | None = None,
    work: dict[str, Any] | None = None,
) -> StagePlan:
    """`work`: the settings that shape one item's output (default: all of `settings`); with the version, models and
    prompts, and without the parents, they make the plan's work key: rows of two artifacts with one work key and
    one item id are the same computation, whatever else the two inputs held."""
    identity = {
        "stage": stage,
        "version": version,
        "settings": settings,
        "parents": sorted(f"{p.stage}/{p.key}" for p in parents),
        "models": sorted(f"{m['role']}={m['fingerprint']}" for m in models),
        "prompts": sorted(f"{p['prompt_id']}={p['sha256']}" for p in prompts),
    }
    work_identity = {k: v for k, v in identity.items() if k != "parents"} | {
        "settings": settings if work is None else work
    }
    return StagePlan(
        stage=stage,
        version=version,
        key=stable_hash(identity, 20),
        work_key=stable_hash(work_identity, 20),
        settings=settings,
        runtime=runtime or {},
        parents=list(parents),
        models=list(models),
        prompts=list(prompts),
    )


@dataclass(frozen=True)
class RunInfo:
    """Who ran a stage: recorded in manifests, never part of a key."""

    run_id: str | None = None
    iteration: int = 1
    flow_run_id: str | None = None
    task_run_id: str | None = None


def package_versions() -> dict[str, str]:
    found = {}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def execute(
    plan: StagePlan,
    store: ArtifactStore,
    run: RunInfo,
    compute: Callable[[ArtifactWriter], dict[str, Any] | None],
    log: Callable[[str], None] = print,
) -> ArtifactRef:
    """Return the artifact at once if it exists and verifies; else compute it and write the manifest last.

    `compute` writes tables through the writer and returns extra manifest fields (drops, thresholds, metrics).
    A SelftrainError found before any shard was finished (a user's mistake) removes the folder; any failure after
    work was done (a worker that died, a request the server refused mid-stage) keeps the finished shards, and the
    error says so, so that a rerun resumes. One run computes a given artifact at a time (see store.lock); another
    waits and reuses it.
    """
    cached = _intact(plan, store, log)
    if cached is not None:
        return cached
    with artifact_lock(store, plan.stage, plan.key, log):
        cached = _intact(plan, store, log)  # another run may have written it while we waited for the lock
        if cached is not None:
            return cached
        return _compute(plan, store, run, compute, log)


def _intact(plan: StagePlan, store: ArtifactStore, log: Callable[[str], None]) -> ArtifactRef | None:
    """The artifact's ref when it is complete and verifies; a corrupt one is deleted (and recomputed)."""
    if not store.is_complete(plan.stage, plan.key):
        return None
    bad = store.verify(plan.stage, plan.key)
    if not bad:
        log(f"{plan.stage}: cache hit {plan.key}")
        return store.ref(plan.stage, plan.key)
    log(f"{plan.stage}: {plan.key} has corrupt files {bad}; recomputing")
    store.delete(plan.stage, plan.key)
    return None


def _finished_shards(writer: ArtifactWriter) -> bool:
    """Whether a shard of this artifact was finished (its completion marker written), by this attempt or before."""
    folder = f"{writer.base}/{PROGRESS}"
    if not writer.fs.exists(folder):
        return False
    names = (p.rsplit("/", 1)[-1] for p in writer.fs.ls(folder, detail=False))
    return any(n.endswith(".json") and not n.startswith(".tmp-") for n in names)


def _compute(
    plan: StagePlan,
    store: ArtifactStore,
    run: RunInfo,
    compute: Callable[[ArtifactWriter], dict[str, Any] | None],
    log: Callable[[str], None],
) -> ArtifactRef:
    writer = ArtifactWriter(store, plan.stage, plan.key)
    start = time.perf_counter()
    try:
        extra = compute(writer) or {}
        manifest = {
            "stage_version": plan.version,
            "work_key": plan.work_key,
            "config": plan.settings,
            "runtime_config": plan.runtime,
            "parents": [p.model_dump() for p in plan.parents],
            "run": {
                "run_id": run.run_id,
                "iteration": run.iteration,
                "flow_run_id": run.flow_run_id,
                "task_run_id": run.task_run_id,
            },
            "models": plan.models,
            "prompts": plan.prompts,
            "packages": package_versions(),
            "seconds": round(time.perf_counter() - start, 2),
            **extra,
        }
        ref = writer.commit(manifest)  # inside: a full disk here follows the same rule as one during compute
    except SelftrainError as exc:
        if not _finished_shards(writer):
            writer.abort()
            raise
        kept = f"{plan.stage}: finished shards are kept in {writer.base}; fix the cause and the same command resumes"
        log(kept)
        exc.add_note(kept)
        raise
    log(f"{plan.stage}: wrote {ref.uri} in {manifest['seconds']} s")
    return ref
