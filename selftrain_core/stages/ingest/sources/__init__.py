"""Document sources. Each yields documents: doc_id, source, source_revision, title, category, text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from selftrain_core.stages.ingest.config import HFDatasetSource, LocalFilesSource, WikiVitalSource
from selftrain_core.stages.ingest.sources import hf_dataset, local_files, wiki_vital


def iter_documents(source: WikiVitalSource | HFDatasetSource | LocalFilesSource) -> Iterator[dict[str, Any]]:
    """The source's documents, in a fixed order; local files and datasets are streamed, so reading them twice (as
    ingest does) costs time, not memory."""
    if isinstance(source, WikiVitalSource):
        return iter(wiki_vital.read(source))
    if isinstance(source, LocalFilesSource):
        return local_files.iter_documents(source)
    return hf_dataset.iter_documents(source)


def source_fingerprint(source: WikiVitalSource | HFDatasetSource | LocalFilesSource) -> str:
    """Content identity of the source, so a changed corpus changes the ingest key."""
    if isinstance(source, WikiVitalSource):
        return wiki_vital.fingerprint()
    if isinstance(source, LocalFilesSource):
        return local_files.fingerprint(source)
    return hf_dataset.fingerprint(source)
