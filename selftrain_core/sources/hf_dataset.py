"""A Hugging Face dataset (e.g. wikimedia/wikipedia at a pinned revision), streamed with `datasets`.

With HF_HUB_OFFLINE=1 it reads from the local datasets cache or a local dataset folder only.
"""

from __future__ import annotations

from typing import Any

from selftrain_core.config import HFDatasetSource
from selftrain_core.errors import SourceError
from selftrain_core.hashing import stable_hash
from selftrain_core.sources.document import make_document


def fingerprint(cfg: HFDatasetSource) -> str:
    return "hf:" + stable_hash([cfg.path, cfg.name, cfg.revision, cfg.split])


def read(cfg: HFDatasetSource) -> list[dict[str, Any]]:
    import datasets

    try:
        stream = datasets.load_dataset(cfg.path, cfg.name, revision=cfg.revision, split=cfg.split, streaming=True)
    except Exception as exc:  # datasets raises many types for missing/unreachable datasets
        raise SourceError(f"cannot open dataset {cfg.path!r} ({cfg.name}, revision {cfg.revision}): {exc}") from None
    source = f"hf:{cfg.path}" + (f"/{cfg.name}" if cfg.name else "")
    docs = []
    for index, row in enumerate(stream):
        if index >= cfg.max_documents:
            break
        if cfg.text_field not in row:
            raise SourceError(f"dataset {cfg.path!r} has no column {cfg.text_field!r}; columns: {sorted(row)}")
        native = row.get(cfg.id_field, index)
        category = row.get(cfg.category_field) if cfg.category_field else None
        docs.append(
            make_document(source, str(native), row.get(cfg.title_field), row[cfg.text_field], category, cfg.revision)
        )
    return docs
