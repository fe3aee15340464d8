"""What scores a block of answers: the configured scorer and its models (resolved and loaded lazily), here or on a
Ray actor.

On Ray (executor.kind=ray) each actor opens a ScorerSpec once: it resolves the scorer's models on its own node and
refuses any whose fingerprint is not the driver's, so every node scores with the same weights; the models load
lazily, at the first block.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

from selftrain_core.cluster.jobs import AdapterFiles
from selftrain_core.config import RunConfig
from selftrain_core.errors import SelftrainError
from selftrain_core.models.precision import policy_dtype
from selftrain_core.models.resolve import ResolvedModel, resolve_model
from selftrain_core.scorers import scorer_class
from selftrain_core.scorers.models import ScorerModels
from selftrain_core.stages.score import support


def model_roles(cfg: RunConfig) -> tuple[str, ...]:
    """The roles of the models the stage loads: the scorer's, and verification's when explicitation is on."""
    roles = scorer_class(cfg.score.scorer).roles(cfg.score)
    extra = support.support_roles(cfg.score.explicitation_support) if cfg.answers.explicitation else ()
    return tuple(roles) + tuple(r for r in extra if r not in roles)


def scorer_models(cfg: RunConfig) -> dict[str, ResolvedModel]:
    """The models the score stage uses, resolved (role -> model)."""
    names = {
        "embedder": lambda: resolve_model(cfg.embedder.name, kind="embedder"),
        "nli": lambda: resolve_model(cfg.score.nli.name, cfg.score.nli.revision, kind="nli"),
        "policy": lambda: resolve_model(cfg.model.name, cfg.model.revision),
        "judge": lambda: resolve_model(cfg.score.reward_judge),
    }
    return {role: names[role]() for role in model_roles(cfg)}


def open_models(cfg: RunConfig, resolved: dict[str, ResolvedModel]) -> ScorerModels:
    return ScorerModels(
        resolved,
        device=cfg.model.device,
        dtype=policy_dtype(cfg.model),
        embedder_batch_size=cfg.embedder.batch_size,
        nli_batch_size=cfg.score.nli.batch_size,
        nli_max_length=cfg.score.nli.max_length,
        policy_batch_size=cfg.answers.batch_size,
        policy_adapter=cfg.model.adapter if "policy" in resolved else None,
    )


def open_configured_scorer(cfg: RunConfig, models: ScorerModels | None = None):
    """The scorer `cfg.score.scorer` names, with its models loaded lazily."""
    return scorer_class(cfg.score.scorer).open(cfg.score, models or open_models(cfg, scorer_models(cfg)))


@dataclass
class ScorerEngine:
    scorer: Any
    models: Any
    folder: str | None = None  # an actor's copy of the policy's adapter (rounds 2+), removed when it closes

    def close(self) -> None:
        """The models are the process's; an actor's go with it."""
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)


@dataclass(frozen=True)
class ScorerSpec:
    cfg: RunConfig
    fingerprints: dict[str, str]  # role -> the driver's fingerprint
    adapter: AdapterFiles | None = None  # a policy scorer's adapter (rounds 2+), from the driver's folder
    section: str = "score"

    @classmethod
    def of(cls, cfg: RunConfig, fingerprints: dict[str, str]) -> ScorerSpec:
        policy = "policy" in fingerprints and cfg.model.adapter
        # the dtype the key names, resolved here: a node of another CPU type would resolve `auto` otherwise
        model = cfg.model.model_copy(update={"dtype": policy_dtype(cfg.model)})
        cfg = cfg.model_copy(update={"model": model})
        return cls(cfg, fingerprints, AdapterFiles.read(cfg.model.adapter) if policy else None)

    def open(self, node: str) -> ScorerEngine:
        resolved = scorer_models(self.cfg)
        for role, model in resolved.items():
            if model.fingerprint != self.fingerprints[role]:
                raise SelftrainError(
                    f"score: the {role} model {model.name!r} on node {node} is not the driver's (fingerprint "
                    f"{model.fingerprint}, the driver has {self.fingerprints[role]}): give every node the same files"
                )
        cfg, folder = self.cfg, None
        try:
            if self.adapter is not None:  # the driver's adapter files, in a folder of this node's
                folder = self.adapter.write(tempfile.mkdtemp(prefix="selftrain-adapter-"))
                cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"adapter": folder})})
            models = open_models(cfg, resolved)
            return ScorerEngine(open_configured_scorer(cfg, models), models, folder)
        except BaseException:
            if folder:
                shutil.rmtree(folder, ignore_errors=True)
            raise
