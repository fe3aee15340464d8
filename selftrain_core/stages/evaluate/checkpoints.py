"""A trained arm's model for evaluation: its checkpoint (a LoRA adapter on the base, or full weights) fetched from the
store into a local folder, here or on a Ray actor's node (every node reads the shared artifact root; no node needs
the driver's folders). The folder lives as long as the backend that reads it."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from selftrain_core.backends.loading import open_backend
from selftrain_core.backends.settings import GenerationSettings
from selftrain_core.cluster.jobs import BackendSpec, WithFolder
from selftrain_core.models.resolve import ResolvedModel
from selftrain_core.stages.train.stage import trained_checkpoint
from selftrain_core.store import ArtifactRef, ArtifactStore
from selftrain_core.store.download import download_folder


@dataclass(frozen=True)
class ArmCheckpoint:
    arm: str
    root: str  # the artifact root, as every node names it (cluster.shard_pool.shared_root)
    ref: ArtifactRef  # the train artifact
    kind: str  # "adapter" | "full"
    path: str  # the checkpoint's folder inside the artifact

    @classmethod
    def of(cls, arm: str, root: str, store: ArtifactStore, ref: ArtifactRef) -> ArmCheckpoint:
        checkpoint = trained_checkpoint(store, ref)
        return cls(arm, root, ref, checkpoint["kind"], checkpoint["path"])

    def fetch(self, into: str) -> str:
        """Download the checkpoint under the folder `into`; returns the checkpoint's folder."""
        return str(download_folder(ArtifactStore(self.root), self.ref, self.path, Path(into) / self.arm / self.path))

    def settings(self, base: GenerationSettings, folder: str) -> GenerationSettings:
        """The generation settings that apply the fetched checkpoint: an adapter on the base model."""
        return replace(base, adapter=folder) if self.kind == "adapter" else base

    def model(self, base: ResolvedModel | None, folder: str) -> ResolvedModel:
        """The model to open: the base (an adapter applies on it), or the full weights, named by the artifact key."""
        if self.kind == "full":
            return ResolvedModel(self.arm, folder, self.ref.key, "local")
        assert base is not None, "an adapter applies on the base model"
        return base


@dataclass(frozen=True)
class ArmSpec:
    """What a Ray actor opens for a trained arm: the base model resolved on its node (refused unless its
    fingerprint is the driver's) with the arm's checkpoint fetched from the store, or the arm's full weights."""

    settings: GenerationSettings  # the evaluate settings, without an adapter
    checkpoint: ArmCheckpoint
    fingerprint: str  # the base model's, as the driver resolved it

    @property
    def section(self) -> str:
        return self.settings.section

    def open(self, node: str) -> Any:
        folder = tempfile.mkdtemp(prefix="selftrain-arm-")
        try:
            fetched = self.checkpoint.fetch(folder)
            settings = self.checkpoint.settings(self.settings, fetched)
            if self.checkpoint.kind == "full":
                backend = open_backend(settings, model=self.checkpoint.model(None, fetched))
            else:
                backend = BackendSpec(settings, self.fingerprint).open(node)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return WithFolder(backend, folder)
