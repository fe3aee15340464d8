"""Between self-training rounds: the gate that decides whether another round runs, and the next round's config.

Round i+1 samples its answers from round i's model (base + adapter) and continues that adapter; its evaluation
compares the new model with the previous round's and the base. The gate reads the paired improvement of the
trained model over the one before it (the base after round 1) on `rounds.gate_metric`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from selftrain_core.config import RunConfig
from selftrain_core.stages.train.stage import trained_checkpoint
from selftrain_core.store import ArtifactRef, ArtifactStore
from selftrain_core.store.download import local_folder

LOWER_IS_BETTER = {"hallucinated", "wrong", "abstained"}


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    metric: str
    against: str  # "base" or "previous"
    improvement: float | None  # positive = better, whatever the metric's direction
    ci_low: float | None
    ci_high: float | None
    reason: str


def gate(cfg: RunConfig, metrics: list[dict[str, Any]]) -> GateDecision:
    r = cfg.rounds
    against = "previous" if cfg.model.adapter else "base"
    wanted = (r.gate_set, f"trained-{against}", r.gate_metric)
    row = next((m for m in metrics if (m.get("set"), m["model"], m["metric"]) == wanted), None)
    if row is None or row["value"] is None:
        reason = f"no paired difference of {r.gate_metric} on the {r.gate_set} set to judge by"
        return GateDecision(False, r.gate_metric, against, None, None, None, reason)
    sign = -1.0 if r.gate_metric in LOWER_IS_BETTER else 1.0
    improvement = sign * row["value"]
    low, high = sorted(sign * v if v is not None else float("nan") for v in (row["ci_low"], row["ci_high"]))
    if improvement <= r.gate_margin:
        reason = f"{r.gate_metric} improved by {improvement:+.3f} over {against}, not more than {r.gate_margin}"
        return GateDecision(False, r.gate_metric, against, improvement, low, high, reason)
    if r.gate_requires_significance and not low > 0:
        reason = f"{r.gate_metric} improved by {improvement:+.3f} but its interval [{low:.3f}, {high:.3f}] spans 0"
        return GateDecision(False, r.gate_metric, against, improvement, low, high, reason)
    reason = f"{r.gate_metric} improved by {improvement:+.3f} over {against}"
    return GateDecision(True, r.gate_metric, against, improvement, low, high, reason)


def local_adapter(store: ArtifactStore, train: ArtifactRef) -> str:
    """A local folder with the train artifact's adapter: the store's own folder on local disk, else a download
    verified against the manifest's checksums (store/download.py), which PEFT and the next round's key read."""
    return local_folder(store, train, trained_checkpoint(store, train)["path"])


def continue_from(cfg: RunConfig, adapter: str) -> RunConfig:
    """Sample through `adapter` (what the model to improve knows), keep training it, and compare with it."""
    return cfg.model_copy(
        update={
            "model": cfg.model.model_copy(update={"adapter": adapter}),
            "train": cfg.train.model_copy(update={"init_adapter": adapter}),
        }
    )


def next_round(cfg: RunConfig, adapter: str) -> RunConfig:
    """Round i+1: sample through round i's adapter and keep training it."""
    return continue_from(cfg, adapter).model_copy(update={"iteration": cfg.iteration + 1})
