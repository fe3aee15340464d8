"""The document row every source produces, with its stable id."""

from __future__ import annotations

from typing import Any

from selftrain_core.errors import SourceError
from selftrain_core.hashing import stable_hash


def make_document(
    source: str, native_id: str, title: str, text: Any, category: str | None, revision: str | None
) -> dict[str, Any]:
    """A document row; the id depends on the source and the document's own id only, so it is stable."""
    if not isinstance(text, str) or not text.strip():
        raise SourceError(f"document {native_id!r} ({title!r}) from {source} has no text")
    if category is not None and not isinstance(category, str | int):
        raise SourceError(f"document {native_id!r} from {source}: category must be a string, got {category!r}")
    return {
        "doc_id": "doc-" + stable_hash([source, native_id]),
        "source": source,
        "source_revision": revision,
        "native_id": str(native_id),
        "title": str(title or native_id),
        "category": None if category is None else str(category),
        "text": text.strip(),
    }
