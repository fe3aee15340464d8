"""What scores a block of answers: the configured scorer and its models, here or on a Ray actor.

On Ray (executor.kind=ray) each actor opens a ScorerSpec once: it resolves the scorer's models on its own node and
refuses any whose fingerprint is not the driver's, so every node scores with the same weights; the models load
lazily, at the first block.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from selftrain_core.config import RunConfig
from selftrain_core.errors import SelftrainError


@dataclass
class ScorerEngine:
    scorer: Any
    models: Any

    def close(self) -> None:
        """The models are the process's; an actor's go with it."""


@dataclass(frozen=True)
class ScorerSpec:
    cfg: RunConfig
    fingerprints: dict[str, str]  # role -> the driver's fingerprint
    section: str = "score"

    def open(self, node: str) -> ScorerEngine:
        from selftrain_core.stages.score.stage import open_configured_scorer, open_models, scorer_models

        resolved = scorer_models(self.cfg)
        for role, model in resolved.items():
            if model.fingerprint != self.fingerprints[role]:
                raise SelftrainError(
                    f"score: the {role} model {model.name!r} on node {node} is not the driver's (fingerprint "
                    f"{model.fingerprint}, the driver has {self.fingerprints[role]}): give every node the same files"
                )
        models = open_models(self.cfg, resolved)
        return ScorerEngine(open_configured_scorer(self.cfg, models), models)
