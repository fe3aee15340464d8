"""Parents of an artifact as refs into the current store (a manifest records them with the root it was written to)."""

from __future__ import annotations

from typing import Any

from selftrain_core.errors import ArtifactNotFoundError
from selftrain_core.store import ArtifactRef, ArtifactStore


def parent_ref(store: ArtifactStore, manifest: dict[str, Any], stage: str) -> ArtifactRef:
    """The complete `stage` parent of the artifact whose manifest is given; a clear error when it is gone."""
    found = [p["key"] for p in manifest.get("parents", []) if p["stage"] == stage]
    child = f"{manifest['stage']}/{manifest['key']}"
    if not found:
        raise ArtifactNotFoundError(f"{child} has no {stage} parent in its manifest")
    if not store.is_complete(stage, found[0]):
        raise ArtifactNotFoundError(
            f"{stage}/{found[0]}, a parent of {child}, is missing or incomplete under {store.url}: "
            "run self-train again with the config that made it (finished stages are cache hits)"
        )
    return store.ref(stage, found[0])
