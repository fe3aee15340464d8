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


def every(read, limit: int = 200) -> list:
    """All rows a paged Prefect read returns (limit and offset given: the pinned server refuses nulls)."""
    rows, offset = [], 0
    while True:
        page = read(limit=limit, offset=offset)
        rows += page
        if len(page) < limit:
            return rows
        offset += limit


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
    with get_client(sync_client=True) as client:  # every record of the server (other tests' too: it is shared)
        kept = {
            "flow_runs": every(lambda **page: client.read_flow_runs(sort=FlowRunSort.ID_DESC, **page)),
            "task_runs": every(lambda **page: client.read_task_runs(sort=TaskRunSort.ID_DESC, **page)),
            "logs": every(client.read_logs),
            "artifacts": every(
                lambda **page: client.read_artifacts(
                    artifact_filter=ArtifactFilter(),
                    flow_run_filter=FlowRunFilter(),
                    task_run_filter=TaskRunFilter(),
                    sort=ArtifactSort.ID_DESC,
                    **page,
                )
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
