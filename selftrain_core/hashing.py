"""Stable hashes for artifact keys and row ids, streamed file hashes, cached file hashes for model weights, and the
cache folder those (and other derived files) live in."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, BinaryIO

_CHUNK = 1 << 20


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: the same object always gives the same text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def stable_hash(obj: Any, length: int = 16) -> str:
    """Hex sha256 of the canonical JSON of `obj`, cut to `length` characters."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()[:length]


def bytes_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stream_sha256(handle: BinaryIO) -> str:
    """Hex sha256 of everything left in a binary file object, read in 1 MiB blocks (never the whole file at once).

    The same digest as `bytes_sha256` of the file's bytes.
    """
    digest = hashlib.sha256()
    while block := handle.read(_CHUNK):
        digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    with open(path, "rb") as handle:
        return stream_sha256(handle)


def derive_seed(*parts: Any) -> int:
    """A 31-bit seed derived from `parts`, so a sample's randomness depends on its identity only."""
    return int(stable_hash(list(parts), 8), 16) & 0x7FFFFFFF


def cache_dir() -> Path:
    """Where selftrain keeps derived files (dequantized models, weight hashes). Override with SELFTRAIN_CACHE."""
    root = os.environ.get("SELFTRAIN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "selftrain"
    )
    return Path(root)


def place_in_cache(tmp: Path, target: Path) -> None:
    """Move the finished folder `tmp` to `target`. When another process placed `target` first (two processes
    filling one cache entry at once: Ray actors, workers, test workers), keep theirs and drop `tmp`: an entry is
    derived from the same inputs either way."""
    try:
        os.replace(tmp, target)
    except OSError:
        if not (target.is_dir() and any(target.iterdir())):
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cached_file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a (large) file, remembered in the cache keyed by path, size and mtime."""
    path = Path(path).resolve()
    stat = path.stat()
    sidecar = cache_dir() / "hashes" / f"{stable_hash(str(path))}.json"
    stamp = {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if sidecar.exists():
        try:
            saved = json.loads(sidecar.read_text())
            if {k: saved.get(k) for k in stamp} == stamp:
                return saved["sha256"]
        except (ValueError, KeyError):
            pass
    digest = file_sha256(path)
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    tmp = sidecar.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({**stamp, "sha256": digest}))
    os.replace(tmp, sidecar)
    return digest
