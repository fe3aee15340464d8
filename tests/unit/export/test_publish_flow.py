"""The publish flow under prefect_test_harness: the token comes from a Prefect Secret block, reaches the hub, and is
in none of what Prefect keeps of the run (parameters, task runs, results, logs, artifacts)."""

from __future__ import annotations

import json

import pytest
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, FlowRunFilter, TaskRunFilter
from prefect.client.schemas.sorting import ArtifactSort, FlowRunSort, TaskRunSort
from prefect.logging.handlers import APILogWorker

from flows.publish import publish
from selftrain_core.config.publish import PublishConfig
from selftrain_core.errors import ConfigError
from tests.unit.export.conftest import TOKEN, TOKEN_ENV

pytestmark = pytest.mark.integration  # a temporary Prefect server: about a minute


def test_the_flow_pushes_with_the_secret_block_token_and_prefect_keeps_no_copy(
    trained, hub, monkeypatch, prefect_server
):
    cfg, _, ref, curated = trained
    monkeypatch.delenv(TOKEN_ENV)  # the block is the only source
    settings = PublishConfig(
        model_repo_id="me/flow-adapter", dataset_repo_id="me/flow-data", endpoint=hub.url, token_secret="hub-write"
    )
    with pytest.raises(ConfigError, match="no Prefect Secret block named 'hub-write'"):
        publish(ref.key, config=cfg.model_copy(update={"publish": settings}))
    Secret(value=TOKEN).save("hub-write")
    results = publish(ref.key, config=cfg.model_copy(update={"publish": settings}))
    APILogWorker.drain_all(timeout=5)
    with get_client(sync_client=True) as client:
        kept = {
            "flow_runs": client.read_flow_runs(limit=100, sort=FlowRunSort.ID_DESC),
            "task_runs": client.read_task_runs(limit=100, sort=TaskRunSort.ID_DESC),
            "logs": [log for page in range(20) for log in client.read_logs(limit=200, offset=200 * page)],
            "artifacts": client.read_artifacts(
                artifact_filter=ArtifactFilter(),
                flow_run_filter=FlowRunFilter(),
                task_run_filter=TaskRunFilter(),
                limit=100,
                offset=0,
                sort=ArtifactSort.ID_DESC,
            ),
        }
    kept = {name: [row.model_dump(mode="json") for row in rows] for name, rows in kept.items()}
    assert [(r["what"], r["artifact"]) for r in results] == [
        ("dataset", f"curate/{curated.key}"),
        ("adapter", f"train/{ref.key}"),
    ]
    assert "adapter_model.safetensors" in hub.files("model", "me/flow-adapter")
    assert {r["authorization"] for r in hub.requests} == {f"Bearer {TOKEN}"}
    assert any("me/flow-adapter" in a["data"] for a in kept["artifacts"] if a["type"] == "markdown"), "commits linked"
    assert any("publish:" in log["message"] for log in kept["logs"]), "the task's log lines reached Prefect"
    assert TOKEN not in json.dumps(kept)
