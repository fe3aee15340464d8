"""`artifact_root`: a local folder or an fsspec URL, checked when the config loads (no disk, no network).

The root is a run parameter: it is shown in the Prefect UI, recorded with each flow run and written into logs. So
it must not carry a credential (a password in the URL, a signed query); credentials come from the environment
(`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT_URL` ..., or fsspec's `FSSPEC_<PROTOCOL>_<OPTION>`).
Whether the store is reachable is preflight's question (runs/storage.py).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import fsspec

LOCAL = {"file", "local"}


def check_artifact_root(root: str) -> str:
    """`root` unchanged when it is usable; a ValueError saying what is wrong otherwise."""
    if not root.strip():
        raise ValueError("give a local folder or an fsspec URL such as s3://bucket/prefix")
    if "://" not in root:
        return root
    protocol, rest = root.split("://", 1)
    if protocol not in fsspec.available_protocols():
        raise ValueError(
            f"unknown protocol {protocol + '://'!r}: use a local folder or an fsspec URL such as s3://bucket/prefix, "
            "gs://bucket/prefix or az://container/prefix"
        )
    parts = urlsplit(root)
    if parts.password is not None or parts.query:
        raise ValueError(
            "the URL carries a credential (a password or a query string); the artifact root is recorded in run "
            "parameters and logs, so give credentials in the environment instead (AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY for s3://, or fsspec's FSSPEC_<PROTOCOL>_<OPTION> variables)"
        )
    if protocol not in LOCAL | {"memory"} and not rest.split("/", 1)[0]:
        raise ValueError(f"name the bucket: {protocol}://<bucket>/<prefix>")
    return root
