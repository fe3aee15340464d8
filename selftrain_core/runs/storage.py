"""Preflight for the artifact root: its store can be reached from this machine before any work.

A local folder needs nothing here (it is made on the first write). Any other store is listed once: a missing
fsspec package, credentials the store refuses or cannot find, an endpoint that does not answer, or a bucket that
does not exist each stop the run with a message naming `artifact_root` and what to set. Credentials and endpoints
come from the environment (e.g. AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL) and never appear here.
"""

from __future__ import annotations

from fsspec.implementations.local import LocalFileSystem

from selftrain_core.errors import ConfigError
from selftrain_core.store import ArtifactStore
from selftrain_core.store.objects import OBJECT_STORES, protocols

ENVIRONMENT = {
    "s3": "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL (or an AWS profile)",
    "gcs": "GOOGLE_APPLICATION_CREDENTIALS",
    "abfs": "AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_CONNECTION_STRING",
}


def _settings(store: ArtifactStore) -> str:
    names = next((v for k, v in ENVIRONMENT.items() if k in protocols(store.fs)), None)
    return f"the environment ({names}, or FSSPEC_<PROTOCOL>_<OPTION>)" if names else "fsspec's storage options"


def check_artifact_root_reachable(store: ArtifactStore) -> None:
    """ConfigError naming artifact_root when `store` cannot be listed from here (see the module docstring)."""
    if isinstance(store.fs, LocalFileSystem):
        return
    try:
        store.fs.ls(store.root, detail=False)
        return
    except FileNotFoundError:  # reachable, but no artifact written under this root yet: is there a bucket?
        pass
    except Exception as exc:  # botocore's and the other clients' errors share no base class
        raise ConfigError(
            f"artifact_root {store.url}: the store cannot be reached ({type(exc).__name__}: {exc}); check the "
            f"endpoint and credentials in {_settings(store)}"
        ) from None
    bucket = store.root.split("/", 1)[0]
    if (OBJECT_STORES - {"memory"}) & set(protocols(store.fs)) and not store.fs.exists(bucket):
        raise ConfigError(
            f"artifact_root {store.url}: the bucket {bucket!r} does not exist (or these credentials cannot see it): "
            "create it, or fix the URL"
        )
