"""A Hugging Face dataset (e.g. wikimedia/wikipedia at a pinned revision), streamed with `datasets`.

With HF_HUB_OFFLINE=1 it reads from the local datasets cache or a local dataset folder only. The revision
recorded on documents and hashed into the ingest key is the hub commit (or a local folder's file hashes), so an
unpinned `main` that moves upstream changes the key.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from selftrain_core.errors import SourceError
from selftrain_core.hashing import file_sha256, stable_hash
from selftrain_core.stages.ingest.config import HFDatasetSource
from selftrain_core.stages.ingest.sources.document import make_document


def resolved_revision(cfg: HFDatasetSource) -> str | None:
    """The content identity: a local folder's file hashes, or the hub commit of the revision (branch or tag
    resolved when the hub is reachable; offline, the configured revision as given)."""
    local = Path(cfg.path).expanduser()
    if local.exists():
        files = sorted(p for p in local.rglob("*") if p.is_file())
        return "sha256:" + stable_hash({p.relative_to(local).as_posix(): file_sha256(p) for p in files}, 32)
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}:
        return cfg.revision
    from huggingface_hub import HfApi

    try:
        return HfApi().dataset_info(cfg.path, revision=cfg.revision).sha
    except Exception as exc:  # hub errors come in many types; the message names the dataset
        raise SourceError(f"cannot resolve dataset {cfg.path!r} at revision {cfg.revision}: {exc}") from None


def fingerprint(cfg: HFDatasetSource) -> str:
    return "hf:" + stable_hash([cfg.path, cfg.name, resolved_revision(cfg), cfg.split])


def iter_documents(cfg: HFDatasetSource) -> Iterator[dict[str, Any]]:
    """The dataset's rows as documents, streamed (never the whole split in memory); at most `max_documents`."""
    import datasets

    try:
        stream = datasets.load_dataset(cfg.path, cfg.name, revision=cfg.revision, split=cfg.split, streaming=True)
    except Exception as exc:  # datasets raises many types for missing/unreachable datasets
        raise SourceError(f"cannot open dataset {cfg.path!r} ({cfg.name}, revision {cfg.revision}): {exc}") from None
    source = f"hf:{cfg.path}" + (f"/{cfg.name}" if cfg.name else "")
    revision = resolved_revision(cfg)
    for index, row in enumerate(stream):
        if index >= cfg.max_documents:
            break
        if cfg.text_field not in row:
            raise SourceError(f"dataset {cfg.path!r} has no column {cfg.text_field!r}; columns: {sorted(row)}")
        native = row.get(cfg.id_field, index)
        category = row.get(cfg.category_field) if cfg.category_field else None
        gold = {
            "gold_answer": row.get(cfg.gold_answer_field) if cfg.gold_answer_field else None,
            "gold_question": row.get(cfg.gold_question_field) if cfg.gold_question_field else None,
        }
        title = row.get(cfg.title_field)
        yield make_document(source, str(native), title, row[cfg.text_field], category, revision, **gold)


def read(cfg: HFDatasetSource) -> list[dict[str, Any]]:
    return list(iter_documents(cfg))
