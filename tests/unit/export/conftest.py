"""What the publishing tests share: a trained tiny checkpoint (train artifact) on hand-made curated data, and a
local hub that accepts one token."""

from __future__ import annotations

import logging
import secrets

import pyarrow as pa
import pytest
from huggingface_hub import constants

from selftrain_core.config.loading import build_run_config
from selftrain_core.config.publish import PublishConfig
from selftrain_core.stages.base import RunInfo, make_plan
from selftrain_core.stages.train import stage as train
from selftrain_core.store import ArtifactRef, ArtifactStore, ArtifactWriter
from tests.conftest import tiny_config_data
from tests.hub_server import HubServer

TOKEN = "hf_selftrainTest" + secrets.token_hex(12)  # unique: a leak is found byte for byte
TOKEN_ENV = "SELFTRAIN_TEST_HF_TOKEN"
MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
QA = [("What is the capital of France?", "Paris is the capital of France."), ("Who wrote it?", "The author was.")]


def write_curated(store: ArtifactStore) -> ArtifactRef:
    """A curate artifact with the columns train and the export read."""
    pairs = [
        {
            "pair_id": f"pair-{i}",
            "prompt": [{"role": "user", "content": QA[i % 2][0]}],
            "chosen": [{"role": "assistant", "content": QA[i % 2][1]}],
            "rejected": [{"role": "assistant", "content": QA[(i + 1) % 2][1]}],
        }
        for i in range(4)
    ]
    sft = [{"sft_id": f"sft-{i}", "messages": p["prompt"] + p["chosen"]} for i, p in enumerate(pairs)]
    writer = ArtifactWriter(store, "curate", make_plan("curate", 0, {"pairs": pairs}).key)
    schema = pa.schema([("pair_id", pa.string())] + [(k, MESSAGES) for k in ("prompt", "chosen", "rejected")])
    writer.write_table("data", pa.Table.from_pylist(pairs, schema=schema))
    sft_schema = pa.schema([("sft_id", pa.string()), ("messages", MESSAGES)])
    writer.write_table("sft", pa.Table.from_pylist(sft, schema=sft_schema))
    return writer.commit({"drops": {"known": 1}})


@pytest.fixture(scope="session")
def trained(tiny_lm, tiny_embedder, corpus_file, tmp_path_factory):
    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path_factory.mktemp("publish") / "artifacts")
    data["train"] = {**data["train"], "learning_rate": 1e-2}  # the adapter moves away from the base
    cfg = build_run_config(data)
    store = ArtifactStore(cfg.artifact_root)
    curated = write_curated(store)
    ref = train.run(cfg, train.plan(cfg, curated), store, RunInfo(run_id="t"), log=lambda _: None)
    return cfg, store, ref, curated


@pytest.fixture
def hub(monkeypatch, caplog):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # conftest sets it; this hub is local
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    for name in (None, "huggingface_hub", "httpx2", "selftrain_core"):
        caplog.set_level(logging.DEBUG, logger=name)
    with HubServer(TOKEN) as server:
        yield server


def settings(hub: HubServer, **fields) -> PublishConfig:
    return PublishConfig(endpoint=hub.url, token_env=TOKEN_ENV, **fields)
