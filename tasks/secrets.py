"""Read API keys from Prefect Secret blocks for selftrain_core's backends (backends/api_keys.py)."""

from __future__ import annotations

from prefect.blocks.system import Secret

from selftrain_core.backends.api_keys import register_secret_reader
from selftrain_core.errors import ConfigError


def read_secret_block(name: str) -> str:
    try:
        block = Secret.load(name)
    except ValueError as err:  # Prefect: "Unable to find block document named ..."
        raise ConfigError(
            f"there is no Prefect Secret block named {name!r} (server.api_key_secret): create it in the UI "
            f"(Blocks > Secret) or with `Secret(value=...).save({name!r})`"
        ) from err
    return str(block.get())


def install() -> None:
    register_secret_reader(read_secret_block)
