"""Where artifacts live and how they are read and verified.

Layout: `<root>/<stage>/<key>/` holds `<table>-<shard>.parquet` files (plus any other files a stage writes,
e.g. an adapter) and `manifest.json`, which is written last: a folder without a manifest is work in progress,
never an artifact. Loading verifies each file against the sha256 recorded in the manifest.

Files are hashed as a stream (never whole in memory), and once per process per file state: the flow checks that a
cached artifact is intact, then the stage task checks again and downstream stages read it, but only the first
check reads the bytes. A file changed on disk since (another size, modification time or inode) is hashed again.

A manifest records its `format_version` (absent in manifests from before the field: format 1). Reading one
artifact's manifest that is unreadable, or from a newer selftrain, raises an error naming its folder; listing
skips such an artifact with a warning, so one bad folder does not break the tools that look through them all.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict

from selftrain_core.errors import ArtifactNotFoundError, ConfigError, CorruptArtifactError, SelftrainError
from selftrain_core.hashing import bytes_sha256
from selftrain_core.store import digests
from selftrain_core.store.objects import install_hint

MANIFEST = "manifest.json"
# The manifest layout this selftrain writes; it reads this and older ones. Raise it when a reader of an older
# layout would misread a new manifest (not when adding a field old readers can ignore).
MANIFEST_FORMAT = 1

log = logging.getLogger(__name__)


class ManifestFormatError(SelftrainError):
    """A manifest was written by a newer selftrain, in a format this one cannot read."""


class ArtifactRef(BaseModel):
    """A small, JSON-serialisable pointer to an artifact: what Prefect tasks return and cache."""

    model_config = ConfigDict(frozen=True)
    stage: str
    key: str
    uri: str


Columns = list[str] | Callable[[str], bool] | None  # which columns a read decodes: names, a predicate, or all


class ArtifactStore:
    def __init__(self, root: str):
        self.url = root
        # no cached listings off local disk: another machine's shards, manifests and leases must show at once
        options = {"use_listings_cache": False} if "://" in root else {}
        try:
            self.fs, self.root = fsspec.core.url_to_fs(root, **options)
        except (ImportError, ValueError) as exc:  # ValueError: a protocol fsspec does not know
            protocol = root.split("://", 1)[0]
            hint = install_hint(protocol)
            raise ConfigError(f"artifact_root {root!r}: {exc}; to use {protocol}://, {hint}") from None
        self.root = self.root.rstrip("/")

    # --- paths ---------------------------------------------------------------------------------------
    def dir(self, stage: str, key: str) -> str:
        return f"{self.root}/{stage}/{key}"

    def uri(self, stage: str, key: str) -> str:
        return self.fs.unstrip_protocol(self.dir(stage, key))

    def ref(self, stage: str, key: str) -> ArtifactRef:
        return ArtifactRef(stage=stage, key=key, uri=self.uri(stage, key))

    # --- manifest ------------------------------------------------------------------------------------
    def has_manifest(self, stage: str, key: str) -> bool:
        return self.fs.exists(f"{self.dir(stage, key)}/{MANIFEST}")

    def manifest(self, stage: str, key: str) -> dict[str, Any]:
        """The manifest; CorruptArtifactError if it is unreadable, ManifestFormatError if from a newer selftrain."""
        path = f"{self.dir(stage, key)}/{MANIFEST}"
        if not self.fs.exists(path):
            raise ArtifactNotFoundError(f"no {stage} artifact with key {key} under {self.url}")
        folder = f"{self.url.rstrip('/')}/{stage}/{key}"  # as the user spelled the root: a path to delete
        try:
            with self.fs.open(path, "r", encoding="utf-8") as handle:
                manifest = json.load(handle)
        except ValueError as exc:  # bad JSON (e.g. truncated) or bad UTF-8
            raise CorruptArtifactError(
                f"{folder}: {MANIFEST} is unreadable ({exc}); delete that folder and the artifact is recomputed"
            ) from None
        version = manifest.get("format_version", 1) if isinstance(manifest, dict) else None
        if not isinstance(version, int) or version < 1:
            raise CorruptArtifactError(
                f"{folder}: {MANIFEST} is not a manifest (a JSON object with a positive integer format_version); "
                "delete that folder and the artifact is recomputed"
            )
        if version > MANIFEST_FORMAT:
            raise ManifestFormatError(
                f"{folder} was written by a newer selftrain (manifest format {version}; this selftrain reads formats "
                f"up to {MANIFEST_FORMAT}): upgrade selftrain to use it, or use another artifact root"
            )
        return manifest

    def is_complete(self, stage: str, key: str) -> bool:
        """Cheap check: the manifest exists and every file it lists is present with the recorded size.

        An unreadable manifest counts as incomplete (the stage recomputes it); one from a newer selftrain raises.
        """
        if not self.has_manifest(stage, key):
            return False
        base = self.dir(stage, key)
        try:
            files = self.manifest(stage, key)["files"]
            return all(self.fs.size(f"{base}/{rel}") == meta["bytes"] for rel, meta in files.items())
        except (FileNotFoundError, KeyError, ValueError, CorruptArtifactError):
            return False

    def verify(self, stage: str, key: str) -> list[str]:
        """Files missing or whose sha256 differs from the manifest (empty list: the artifact is intact).

        Each file is hashed as a stream, and once per process while its state is unchanged (see `file_sha256`):
        verifying the same artifact again in one run (the flow's cache check, then the stage's) reads no bytes,
        while a file changed on disk in between is hashed again.
        """
        if not self.has_manifest(stage, key):
            raise ArtifactNotFoundError(f"no {stage} artifact with key {key} under {self.url}")
        base = self.dir(stage, key)
        bad = []
        for rel, meta in self.manifest(stage, key)["files"].items():
            try:
                intact = self.file_sha256(f"{base}/{rel}") == meta["sha256"]
            except FileNotFoundError:
                intact = False
            if not intact:
                bad.append(rel)
        return bad

    # --- file hashes ---------------------------------------------------------------------------------
    def file_sha256(self, path: str) -> str:
        """Hex sha256 of a file in this store, read in blocks, once per process per file state (store/digests.py)."""
        return digests.file_sha256(self.fs, path)

    # --- tables --------------------------------------------------------------------------------------
    def read_table(self, ref: ArtifactRef | tuple[str, str], table: str = "data", columns: Columns = None) -> pa.Table:
        """All shards of `table` (only `columns`, when given), in shard order, each checked against its manifest
        checksum."""
        parts = list(self.iter_tables(ref, table, columns))
        if not parts:
            return pa.Table.from_pylist([], schema=pa.schema([]))
        return pa.concat_tables(parts)

    def iter_tables(
        self, ref: ArtifactRef | tuple[str, str], table: str = "data", columns: Columns = None
    ) -> Iterator[pa.Table]:
        """The shards of `table` one at a time, in shard order, each checked against its manifest checksum: a
        reader that handles one shard before the next holds one shard in memory, not the whole table. `columns`:
        decode only these names, or the names a predicate accepts (a reader that needs no token logprobs leaves the
        largest columns undecoded)."""
        stage, key = (ref.stage, ref.key) if isinstance(ref, ArtifactRef) else ref
        manifest = self.manifest(stage, key)
        for rel in self._shards(manifest, stage, key, table):
            yield self._read_verified(manifest, stage, key, rel, columns)

    def read_shard(
        self, ref: ArtifactRef | tuple[str, str], table: str, index: int, columns: Columns = None
    ) -> pa.Table:
        """Shard `index` (in shard order) of `table`, checked against its manifest checksum."""
        stage, key = (ref.stage, ref.key) if isinstance(ref, ArtifactRef) else ref
        manifest = self.manifest(stage, key)
        return self._read_verified(manifest, stage, key, self._shards(manifest, stage, key, table)[index], columns)

    @staticmethod
    def _shards(manifest: dict[str, Any], stage: str, key: str, table: str) -> list[str]:
        shards = manifest["tables"].get(table)
        if shards is None:
            raise ArtifactNotFoundError(f"{stage}/{key} has no table {table!r}; tables: {sorted(manifest['tables'])}")
        return shards

    def _read_verified(self, manifest: dict[str, Any], stage: str, key: str, rel: str, columns: Columns) -> pa.Table:
        path, expected = f"{self.dir(stage, key)}/{rel}", manifest["files"][rel]["sha256"]
        state = digests.file_state(self.fs, path)
        data = self.fs.cat_file(path)
        if digests.known(state) != expected:  # not verified in this state yet: hash the bytes just read
            digest = bytes_sha256(data)
            if digest != expected:
                raise CorruptArtifactError(f"{stage}/{key}/{rel} does not match its checksum; delete and recompute")
            digests.remember(state, digest)
        if callable(columns):
            names = [n for n in pq.ParquetFile(pa.BufferReader(data)).schema_arrow.names if columns(n)]
            return pq.read_table(pa.BufferReader(data), columns=names)
        return pq.read_table(pa.BufferReader(data), columns=columns)

    def read_rows(
        self, ref: ArtifactRef | tuple[str, str], table: str = "data", columns: Columns = None
    ) -> list[dict[str, Any]]:
        return self.read_table(ref, table, columns).to_pylist()

    # --- listing and removal -------------------------------------------------------------------------
    def list(self, stage: str | None = None) -> list[dict[str, Any]]:
        """Manifests of all complete artifacts (optionally of one stage), newest first.

        A manifest that is unreadable or from a newer selftrain is skipped with a warning naming its folder.
        """
        stages = [stage] if stage else [p.rsplit("/", 1)[-1] for p in self._ls(self.root)]
        found = []
        for name in stages:
            for path in self._ls(f"{self.root}/{name}"):
                key = path.rsplit("/", 1)[-1]
                if not self.has_manifest(name, key):
                    continue
                try:
                    found.append(self.manifest(name, key))
                except (CorruptArtifactError, ManifestFormatError) as exc:
                    log.warning("skipping an artifact: %s", exc)
        return sorted(found, key=lambda m: m.get("created_at", ""), reverse=True)

    def _ls(self, path: str) -> list[str]:
        if not self.fs.exists(path):
            return []
        return [e["name"] for e in self.fs.ls(path, detail=True) if e["type"] == "directory"]

    def delete(self, stage: str, key: str) -> None:
        path = self.dir(stage, key)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)
