"""sha256 of the files this process has hashed, remembered by each file's state, so that checking one artifact again
in a run (the flow's cache check, then the stage's, then its readers) reads no bytes.

The state is (size, mtime_ns, inode) on a local disk and fsspec's `ukey` (from the file's info: size, ETag or
modification time) elsewhere, so a file rewritten or replaced is hashed again. An in-place edit that keeps the size
and lands in the same tick of the filesystem's clock is not seen, as with any stat-based cache. Shared by every
ArtifactStore object (the flow and each stage task make their own); cleared when full (a long-lived worker).
"""

from __future__ import annotations

import os
from typing import Any

from fsspec.implementations.local import LocalFileSystem

from selftrain_core.hashing import stream_sha256

_DIGESTS: dict[tuple[Any, ...], str] = {}
_DIGESTS_MAX = 100_000


def file_state(fs: Any, path: str) -> tuple[Any, ...]:
    if isinstance(fs, LocalFileSystem):
        st = os.stat(path)
        return ("file", path, st.st_size, st.st_mtime_ns, st.st_ino)
    return (fs.unstrip_protocol(path), fs.ukey(path))


def known(state: tuple[Any, ...]) -> str | None:
    """The sha256 this process found for a file in this state, if it hashed it."""
    return _DIGESTS.get(state)


def remember(state: tuple[Any, ...], digest: str) -> None:
    if len(_DIGESTS) >= _DIGESTS_MAX:
        _DIGESTS.clear()
    _DIGESTS[state] = digest


def file_sha256(fs: Any, path: str) -> str:
    """Hex sha256 of a file, read in blocks, remembered for this process by the file's state."""
    state = file_state(fs, path)
    digest = known(state)
    if digest is None:
        with fs.open(path, "rb") as handle:
            digest = stream_sha256(handle)
        remember(state, digest)
    return digest
