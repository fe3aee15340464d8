"""API keys: from the environment, or from a Prefect Secret block through the reader the Prefect layer registers."""

import pytest

from selftrain_core.backends import api_keys
from selftrain_core.backends.config import OpenAIServerConfig
from selftrain_core.errors import ConfigError


@pytest.fixture
def no_reader(monkeypatch):
    monkeypatch.setattr(api_keys, "_secret_reader", None)


def test_the_environment_variable_is_read_when_no_block_is_named(no_reader, monkeypatch):
    server = OpenAIServerConfig(model="m", api_key_env="SELFTRAIN_UNIT_KEY")
    monkeypatch.delenv("SELFTRAIN_UNIT_KEY", raising=False)
    assert api_keys.api_key(server) is None
    monkeypatch.setenv("SELFTRAIN_UNIT_KEY", "sk-env")
    assert api_keys.api_key(server) == "sk-env"
    assert api_keys.key_source(server) == "the environment variable SELFTRAIN_UNIT_KEY"


def test_a_secret_block_wins_over_the_variable(no_reader, monkeypatch):
    server = OpenAIServerConfig(model="m", api_key_env="SELFTRAIN_UNIT_KEY", api_key_secret="openai-key")
    monkeypatch.setenv("SELFTRAIN_UNIT_KEY", "sk-env")
    with pytest.raises(ConfigError, match="'openai-key' names a Prefect Secret block.*api_key_env"):
        api_keys.api_key(server)
    api_keys.register_secret_reader({"openai-key": "sk-block"}.__getitem__)
    assert api_keys.api_key(server) == "sk-block"
    assert api_keys.key_source(server) == "the Prefect Secret block 'openai-key'"
