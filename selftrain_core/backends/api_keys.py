"""Where a server's API key comes from: a Prefect Secret block, or an environment variable.

This library never imports Prefect, so a Secret block is read through a reader the Prefect layer registers
(tasks/secrets.py does, when the tasks package is imported: every flow run, the CLI's included). The key goes to
the HTTP client only: configs name its source, manifests record that name, and the backend scrubs the key from
every message it raises or logs.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from selftrain_core.backends.config import OpenAIServerConfig
from selftrain_core.errors import ConfigError

_secret_reader: Callable[[str], str] | None = None


def register_secret_reader(reader: Callable[[str], str] | None) -> None:
    """`reader(block name) -> the secret`, raising ConfigError for a block that does not exist."""
    global _secret_reader
    _secret_reader = reader


def key_source(server: OpenAIServerConfig) -> str:
    """Where the key is read from, in words a message or a manifest may carry."""
    if server.api_key_secret:
        return f"the Prefect Secret block {server.api_key_secret!r}"
    return f"the environment variable {server.api_key_env}"


def api_key(server: OpenAIServerConfig) -> str | None:
    """The key to send, or None (a local server without auth)."""
    if server.api_key_secret:
        if _secret_reader is None:
            raise ConfigError(
                f"server.api_key_secret={server.api_key_secret!r} names a Prefect Secret block, which is read in a "
                "Prefect flow run (`selftrain run`, the deployments); here none is: set server.api_key_env instead"
            )
        return _secret_reader(server.api_key_secret) or None
    return os.environ.get(server.api_key_env) or None
