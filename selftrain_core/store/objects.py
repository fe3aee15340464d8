"""What the store needs to know about a filesystem that is not a local disk.

Object stores (S3, GCS, Azure Blob, fsspec's memory store) write an object whole or not at all: a PUT, or a
multipart upload that appears only when completed. They have no rename (fsspec's `mv` there is a copy and a
delete), so a finished file is written straight to its final name; other remote filesystems (SFTP, HDFS) get a
temporary name and a rename, as a local disk does.
"""

from __future__ import annotations

from fsspec import AbstractFileSystem

OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "memory"})

# the package that implements each protocol, for an error that says what to install
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure", "abfss": "azure"}


def protocols(fs: AbstractFileSystem) -> tuple[str, ...]:
    return (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)


def is_object_store(fs: AbstractFileSystem) -> bool:
    """Whether a write to `fs` appears whole (so it needs no temporary name), and `pipe_file(mode="create")` is the
    one operation two writers cannot both win (the lease lock's basis)."""
    return bool(OBJECT_STORES & set(protocols(fs)))


def install_hint(protocol: str) -> str:
    extra = EXTRAS.get(protocol)
    return f"pip install 'selftrain[{extra}]'" if extra else f"install the fsspec implementation of {protocol}://"
