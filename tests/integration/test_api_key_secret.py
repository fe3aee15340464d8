"""A server's API key from a Prefect Secret block: the self-train flow samples answers through an
OpenAI-compatible server that demands the key, and the key reaches no artifact, manifest or log; a block that
does not exist stops the run naming it, with no answers artifact."""

import logging
from pathlib import Path

import pytest
from prefect.blocks.system import Secret

from flows.self_train import self_train
from selftrain_core.config.loading import build_run_config
from selftrain_core.errors import ConfigError
from selftrain_core.store import ArtifactStore
from tests.conftest import tiny_config_data
from tests.openai_server import FakeEngine, ThreadedServer, create_app

pytestmark = pytest.mark.integration
KEY = "sk-selftrain-block-5c0e9d21b7a84f3e"


def test_the_answers_stage_reads_its_key_from_a_secret_block(
    tiny_lm, tiny_embedder, corpus_file, tmp_path, caplog, prefect_server
):
    caplog.set_level(logging.DEBUG)
    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts")
    with ThreadedServer(create_app(FakeEngine(), "served", {"api_key": KEY})) as server:
        settings = {"base_url": server.url, "model": "served", "api_key_env": "SELFTRAIN_UNSET_KEY"}
        data["answers"].update(backend="openai", server={**settings, "api_key_secret": "selftrain-test-key"})
        cfg = build_run_config(data)
        Secret(value=KEY).save("selftrain-test-key")
        refs = self_train(config=cfg, stop_after="answers")

        server_missing = {**settings, "api_key_secret": "no-such-block"}
        # another temperature: another answers key, so nothing is cached
        answers_missing = {**data["answers"], "server": server_missing, "temperature": 0.7}
        missing = build_run_config({**data, "answers": answers_missing})
        with pytest.raises(ConfigError, match="no Prefect Secret block named 'no-such-block'"):
            self_train(config=missing, stop_after="answers")

    store = ArtifactStore(cfg.artifact_root)
    manifest = store.manifest("answers", refs["answers"].key)
    assert manifest["usage"]["backend"] == "openai" and manifest["usage"]["requests"] > 0
    assert manifest["runtime_config"]["api_key_secret"] == "selftrain-test-key"
    assert [m["key"] for m in store.list("answers")] == [refs["answers"].key]  # the failed run left none
    for path in Path(cfg.artifact_root).rglob("*"):
        assert not path.is_file() or KEY.encode() not in path.read_bytes(), path
    assert KEY not in caplog.text
