"""What the driver sends a Ray actor (cluster/shard_pool.py): a shard's job, where to write it, and what engine to
open (a sampling stage's backend; the score stage and evaluate's trained arms have specs of their own)."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from selftrain_core.backends.loading import open_backend
from selftrain_core.backends.settings import GenerationSettings
from selftrain_core.cluster.connect import ClusterError
from selftrain_core.errors import ConfigError

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
class AdapterFiles:
    """A LoRA adapter folder's files, read by the driver and sent to each actor with its spec: no node needs the
    driver's folder (a previous round's adapter downloaded to the driver's cache). Adapters are small (megabytes
    for a 7B model's LoRA); Ray moves large arguments through its object store."""

    files: dict[str, bytes]

    @classmethod
    def read(cls, folder: str) -> AdapterFiles:
        root = Path(folder)
        if not root.is_dir():
            raise ConfigError(f"the adapter folder {folder} does not exist on this machine")
        return cls({str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()})

    def write(self, folder: str) -> str:
        for rel, data in self.files.items():
            target = Path(folder) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return folder


@dataclass(frozen=True)
class BackendSpec:
    """What a sampling stage's actor opens: the stage's backend, on a model resolved on the actor's own node (its HF
    cache, or its copy of a local folder, not the driver's path) and refused unless its fingerprint is the driver's;
    with `adapter`, the driver's adapter files written to a folder of the actor's own (removed when it closes)."""

    settings: GenerationSettings
    fingerprint: str
    adapter: AdapterFiles | None = None

    @classmethod
    def of(cls, settings: GenerationSettings, fingerprint: str) -> BackendSpec:
        """The spec for `settings` on the driver's model, carrying the adapter's files when they name one."""
        return cls(settings, fingerprint, AdapterFiles.read(settings.adapter) if settings.adapter else None)

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
        if self.adapter is None:
            return open_backend(self.settings, model=model)
        folder = tempfile.mkdtemp(prefix="selftrain-adapter-")
        try:
            settings = replace(self.settings, adapter=self.adapter.write(folder))
            return WithFolder(open_backend(settings, model=model), folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise


class WithFolder:
    """A backend that removes the folder it reads its weights or adapter from when it closes."""

    def __init__(self, backend: Any, folder: str):
        self.backend, self.folder = backend, folder

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    def close(self) -> None:
        try:
            self.backend.close()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def shared_root(url: str) -> str:
    """The artifact root as an actor names it: a URL as is, a local folder made absolute (an actor's working
    folder is not this process's)."""
    return url if "://" in url else os.path.abspath(url)
