"""Content-addressed artifact store: Parquet shards + manifest.json written last, on any fsspec filesystem."""

from selftrain_core.store.artifact_store import ArtifactRef, ArtifactStore
from selftrain_core.store.writer import ArtifactWriter

__all__ = ["ArtifactRef", "ArtifactStore", "ArtifactWriter"]
