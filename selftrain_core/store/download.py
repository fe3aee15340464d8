"""A local folder with part of an artifact, for libraries that read only local files (PEFT, transformers).

On local disk that is the artifact's own folder. From any other store each file under the folder is downloaded as
a stream, hashed while it is written, and checked against the sha256 the manifest records, into a temporary folder
renamed into place once every file matched: a download cut short (a killed run) is never taken for a finished one,
and a corrupt object stops with an error naming it instead of reaching the model loader.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from fsspec.implementations.local import LocalFileSystem

from selftrain_core.errors import CorruptArtifactError
from selftrain_core.hashing import cache_dir, stable_hash
from selftrain_core.store.artifact_store import ArtifactRef, ArtifactStore

_BLOCK = 1 << 20


def folder_files(store: ArtifactStore, ref: ArtifactRef, rel: str) -> dict[str, dict]:
    """The manifest's entries (sha256, bytes) for the files under `rel`, by their path inside `rel`."""
    files = store.manifest(ref.stage, ref.key)["files"]
    prefix = f"{rel.rstrip('/')}/"
    found = {name.removeprefix(prefix): meta for name, meta in files.items() if name.startswith(prefix)}
    if not found:
        raise CorruptArtifactError(f"{ref.uri} has no files under {rel}/ in its manifest")
    return found


def download_folder(store: ArtifactStore, ref: ArtifactRef, rel: str, target: str | os.PathLike) -> Path:
    """Download the artifact folder `rel` into the new folder `target`, every file verified; returns `target`."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    base = f"{store.dir(ref.stage, ref.key)}/{rel.rstrip('/')}"
    try:
        for name, meta in folder_files(store, ref, rel).items():
            local = tmp / name
            local.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            with store.fs.open(f"{base}/{name}", "rb") as source, open(local, "wb") as sink:
                while block := source.read(_BLOCK):
                    digest.update(block)
                    sink.write(block)
            if digest.hexdigest() != meta["sha256"]:
                raise CorruptArtifactError(
                    f"{ref.uri}/{rel}/{name} does not match its checksum in the manifest: delete the artifact "
                    f"({ref.uri}) and run again to recompute it"
                )
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def local_folder(store: ArtifactStore, ref: ArtifactRef, rel: str) -> str:
    """A local folder holding the artifact folder `rel`: the store's own on local disk, else a verified download
    kept in the selftrain cache (by artifact URI and the files' checksums, so a recomputed artifact is fetched
    again) and reused by later calls."""
    if isinstance(store.fs, LocalFileSystem):
        return f"{store.dir(ref.stage, ref.key)}/{rel}"
    files = folder_files(store, ref, rel)
    target = cache_dir() / "artifacts" / ref.stage / stable_hash([ref.uri, rel, files]) / Path(rel).name
    if not target.is_dir():
        try:
            download_folder(store, ref, rel, target)
        except OSError:
            if not target.is_dir():  # else another process placed the same verified folder first
                raise
    return str(target)
