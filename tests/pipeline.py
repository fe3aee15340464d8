"""Run the core stages in order without Prefect (what the flow does, minus the orchestration)."""

from __future__ import annotations

from selftrain_core.config import STAGES, RunConfig
from selftrain_core.stages.answers import stage as answers
from selftrain_core.stages.base import RunInfo, StagePlan
from selftrain_core.stages.chunk import stage as chunk
from selftrain_core.stages.curate import stage as curate
from selftrain_core.stages.evaluate import stage as evaluate
from selftrain_core.stages.ingest import stage as ingest
from selftrain_core.stages.questions import stage as questions
from selftrain_core.stages.score import stage as score
from selftrain_core.stages.train import stage as train
from selftrain_core.store import ArtifactRef, ArtifactStore


def plan_of(stage: str, cfg: RunConfig, refs: dict[str, ArtifactRef]) -> StagePlan:
    return {
        "ingest": lambda: ingest.plan(cfg),
        "chunk": lambda: chunk.plan(cfg, refs["ingest"]),
        "questions": lambda: questions.plan(cfg, refs["chunk"]),
        "answers": lambda: answers.plan(cfg, refs["questions"], refs["chunk"]),
        "score": lambda: score.plan(cfg, refs["answers"]),
        "curate": lambda: curate.plan(cfg, refs["score"], refs["answers"]),
        "train": lambda: train.plan(cfg, refs["curate"]),
        "evaluate": lambda: evaluate.plan(cfg, refs["train"], refs["answers"], refs["score"], refs["chunk"]),
    }[stage]()


MODULES = {
    "ingest": ingest,
    "chunk": chunk,
    "questions": questions,
    "answers": answers,
    "score": score,
    "curate": curate,
    "train": train,
    "evaluate": evaluate,
}


def run_pipeline(cfg: RunConfig, stop_after: str = "evaluate", log=None) -> tuple[dict[str, ArtifactRef], list[str]]:
    """(refs, log lines)."""
    store, refs, lines = ArtifactStore(cfg.artifact_root), {}, []
    for stage in STAGES[: STAGES.index(stop_after) + 1]:
        plan = plan_of(stage, cfg, refs)
        run_info = RunInfo(run_id="test", iteration=cfg.iteration)
        refs[stage] = MODULES[stage].run(cfg, plan, store, run_info, log=log or lines.append)
    return refs, lines


def plan_keys(cfg: RunConfig) -> dict[str, str]:
    """Keys every stage would have under `cfg`, given the parents' keys it would compute."""
    store, fresh = ArtifactStore(cfg.artifact_root), {}
    for stage in STAGES:
        fresh[stage] = store.ref(stage, plan_of(stage, cfg, fresh).key)
    return {s: r.key for s, r in fresh.items()}
