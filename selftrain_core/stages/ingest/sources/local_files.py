"""Local documents: a JSONL, Parquet, text or markdown file, or a folder of them.

JSONL and Parquet rows name their id, title, text and category columns in the config; a .txt/.md file is one
document titled by its file name. Errors name the file (and the line, for JSONL).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from selftrain_core.errors import SourceError
from selftrain_core.hashing import file_sha256, stable_hash
from selftrain_core.stages.ingest.config import LocalFilesSource
from selftrain_core.stages.ingest.sources.document import make_document

SUFFIXES = {".jsonl", ".parquet", ".txt", ".md"}
PARQUET_BATCH = 1024


def _files(cfg: LocalFilesSource) -> list[Path]:
    root = Path(cfg.path).expanduser()
    if not root.exists():
        raise SourceError(f"local source {root} does not exist")
    if root.is_file():
        if root.suffix not in SUFFIXES:
            raise SourceError(f"{root}: unsupported file type {root.suffix!r}; use one of {sorted(SUFFIXES)}")
        return [root]
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
    if not files:
        raise SourceError(f"local source {root} holds no {', '.join(sorted(SUFFIXES))} files")
    return files


def fingerprint(cfg: LocalFilesSource) -> str:
    return "sha256:" + stable_hash({str(p): file_sha256(p) for p in _files(cfg)}, 32)


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path} is not valid UTF-8 (byte {exc.start}): re-encode it as UTF-8") from None


def _source_name(cfg: LocalFilesSource, path: Path) -> str:
    """`local:<path relative to the source root>`, so same-named files in different folders stay apart."""
    root = Path(cfg.path).expanduser()
    return "local:" + (path.name if root.is_file() else path.relative_to(root).as_posix())


def _record(cfg: LocalFilesSource, path: Path, revision: str, row: dict[str, Any], fallback_id: str) -> dict[str, Any]:
    if cfg.text_field not in row:
        raise SourceError(f"{path} ({fallback_id}): no {cfg.text_field!r} field; set source.text_field")
    native = row.get(cfg.id_field) or fallback_id
    category = row.get(cfg.category_field) if cfg.category_field else None
    return make_document(
        _source_name(cfg, path),
        str(native),
        row.get(cfg.title_field) or str(native),
        row[cfg.text_field],
        category,
        revision,
        gold_answer=row.get(cfg.gold_answer_field) if cfg.gold_answer_field else None,
        gold_question=row.get(cfg.gold_question_field) if cfg.gold_question_field else None,
    )


def _revision(path: Path) -> str:
    """A file's revision: its content hash, computed once per file (not once per row: that re-read a 10,000-line
    JSONL 10,000 times)."""
    return "sha256:" + file_sha256(path)


def _jsonl_documents(cfg: LocalFilesSource, path: Path) -> Iterator[dict[str, Any]]:
    """One document per line, read a line at a time (a corpus file is never whole in memory). Lines end at "\n"
    only, as JSON Lines defines them (a JSON text holds no raw newline; a U+2028 inside a string is not a break)."""
    revision = _revision(path)
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise SourceError(
                    f"{path}, line {number} is not valid UTF-8 (byte {exc.start} of the line): re-encode it as UTF-8"
                ) from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SourceError(f"{path}, line {number}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise SourceError(f"{path}, line {number}: expected a JSON object, got {type(row).__name__}")
            yield _record(cfg, path, revision, row, f"line-{number}")


def _parquet_documents(cfg: LocalFilesSource, path: Path) -> Iterator[dict[str, Any]]:
    """One document per row, read a record batch at a time."""
    revision, index = _revision(path), 0
    for rows in _parquet_batches(path):
        for row in rows:
            yield _record(cfg, path, revision, row, f"row-{index}")
            index += 1


def _parquet_batches(path: Path) -> Iterator[list[dict[str, Any]]]:
    """The file's rows, a record batch at a time; an unreadable file is named (not a record's own error)."""
    import pyarrow.parquet as pq

    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=PARQUET_BATCH):
            yield batch.to_pylist()  # a record's own error is raised by the caller, outside this try
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise SourceError(f"{path} is not a readable Parquet file: {exc}") from None


def _file_documents(cfg: LocalFilesSource, path: Path) -> Iterator[dict[str, Any]]:
    if path.suffix == ".jsonl":
        yield from _jsonl_documents(cfg, path)
    elif path.suffix == ".parquet":
        yield from _parquet_documents(cfg, path)
    else:
        yield make_document(_source_name(cfg, path), path.stem, path.stem, _read_text(path), None, _revision(path))


def iter_documents(cfg: LocalFilesSource) -> Iterator[dict[str, Any]]:
    """The source's documents in file order, streamed; at most `max_documents`."""
    count = 0
    for path in _files(cfg):
        for doc in _file_documents(cfg, path):
            if cfg.max_documents and count >= cfg.max_documents:
                return
            count += 1
            yield doc


def read(cfg: LocalFilesSource) -> list[dict[str, Any]]:
    return list(iter_documents(cfg))
