"""executor settings: runtime only (no key changes), refused with the setting named before any cluster work."""

import sys

import pytest

from selftrain_core.backends.settings import GenerationSettings
from selftrain_core.cluster.connect import cluster_address, connect
from selftrain_core.config.executor import ExecutorConfig
from selftrain_core.errors import ConfigError
from selftrain_core.stages.shards import on_ray
from tests.pipeline import plan_keys


def test_the_executor_changes_no_key(tiny_config):
    on_cluster = tiny_config.model_copy(update={"executor": ExecutorConfig(kind="ray", address="10.0.0.1:6379")})
    assert plan_keys(on_cluster) == plan_keys(tiny_config)


def test_ray_needs_an_address(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(ConfigError, match=r"executor.address .* or RAY_ADDRESS"):
        cluster_address(ExecutorConfig(kind="ray"))
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6390")
    assert cluster_address(ExecutorConfig(kind="ray")) == "127.0.0.1:6390"
    assert cluster_address(ExecutorConfig(kind="ray", address="h:1")) == "h:1"


def test_ray_missing_is_named_with_its_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ConfigError, match=r"pip install 'selftrain\[ray\]'"):
        connect(ExecutorConfig(kind="ray", address="127.0.0.1:1"))


def test_only_local_models_go_to_actors(tiny_config):
    ray = tiny_config.model_copy(update={"executor": ExecutorConfig(kind="ray", address="h:1")})
    assert on_ray(GenerationSettings.for_answers(ray)) and on_ray(GenerationSettings.for_questions(ray))
    assert not on_ray(GenerationSettings.for_answers(tiny_config))
    served = ray.model_copy(
        update={"answers": ray.answers.model_copy(update={"backend": "openai", "server": _server()})}
    )
    assert not on_ray(GenerationSettings.for_answers(served))  # the server is the pool


def _server():
    from selftrain_core.backends.config import OpenAIServerConfig

    return OpenAIServerConfig(base_url="http://127.0.0.1:9/v1", model="m")


def test_an_address_where_nothing_listens_is_refused_at_once(monkeypatch):
    import socket

    from selftrain_core.cluster.connect import ClusterError

    with socket.socket() as probe:  # a free port: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ClusterError, match=rf"no Ray cluster answers at 127.0.0.1:{port} \(executor.address"):
        connect(ExecutorConfig(kind="ray", address=f"127.0.0.1:{port}"))
