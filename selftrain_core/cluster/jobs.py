"""What the driver sends a Ray actor (cluster/shard_pool.py): a shard's job, where to write it, and what engine to
open (a sampling stage's backend; the score stage and evaluate's trained arms have specs of their own)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from selftrain_core.backends.loading import open_backend
from selftrain_core.backends.settings import GenerationSettings
from selftrain_core.cluster.connect import ClusterError

Row = dict[str, Any]


@dataclass(frozen=True)
class ShardJob:
    index: int
    items: list[Row]
    meta: dict[str, Any]
    new: int | None = None  # items the actor computes (the rest carry a reused row); None: all, for progress


@dataclass(frozen=True)
class ShardTarget:
    """Where an actor writes a shard: the artifact (root URL, stage, key), its table and the table's schema."""

    root: str
    stage: str
    key: str
    table: str
    schema: pa.Schema


@dataclass(frozen=True)
class BackendSpec:
    """What a sampling stage's actor opens: the stage's backend, on a model resolved on the actor's own node (its HF
    cache, or its copy of a local folder, not the driver's path) and refused unless its fingerprint is the driver's."""

    settings: GenerationSettings
    fingerprint: str

    @property
    def section(self) -> str:
        return self.settings.section

    def open(self, node: str) -> Any:
        model = self.settings.resolve()
        if model.fingerprint != self.fingerprint:
            raise ClusterError(
                f"{self.section}: the model {self.settings.model!r} on node {node} is not the driver's (fingerprint "
                f"{model.fingerprint}, the driver has {self.fingerprint}): give every node the same model files"
            )
        return open_backend(self.settings, model=model)


def shared_root(url: str) -> str:
    """The artifact root as an actor names it: a URL as is, a local folder made absolute (an actor's working
    folder is not this process's)."""
    return url if "://" in url else os.path.abspath(url)
