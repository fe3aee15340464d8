"""Prefect retries a stage after a transient failure, never after a user's mistake (tasks/retries.py): a server
that stayed down through the backend's own request retries fails the answers task once, Prefect runs it again
(cfg.retries) and the stage completes; a server that does not serve the configured model fails once, unretried."""

from __future__ import annotations

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.sorting import TaskRunSort
from prefect.states import Failed

from flows.self_train import self_train
from selftrain_core.backends.errors import ServedModelNotFoundError, ServerUnavailableError
from selftrain_core.config.loading import build_run_config
from selftrain_core.errors import ConfigError
from selftrain_core.store import ArtifactStore
from tasks.retries import retry_transient
from tests.conftest import tiny_config_data
from tests.openai_server import FakeEngine, ThreadedServer, create_app

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("exc", "retried"),
    [
        (ServerUnavailableError("down"), True),
        (ConnectionError("reset"), True),
        (TimeoutError("slow"), True),
        (ConfigError("a wrong setting"), False),
        (ServedModelNotFoundError("no such model"), False),
        (ValueError("a bug"), False),
    ],
)
def test_only_transient_failures_are_retried(exc, retried):
    assert retry_transient(None, None, Failed(data=exc)) is retried


def answers_runs(flow_run_id) -> list:
    with get_client(sync_client=True) as client:  # limit and sort given: the pinned server refuses nulls
        runs = client.read_task_runs(limit=200, sort=TaskRunSort.EXPECTED_START_TIME_DESC)
    return [r for r in runs if r.flow_run_id == flow_run_id and r.name.startswith("answers")]


def test_a_server_down_then_back_is_retried_and_a_missing_model_is_not(
    tiny_lm, tiny_embedder, corpus_file, tmp_path, prefect_server
):
    app = create_app(FakeEngine(), "served")
    with ThreadedServer(app) as server:
        settings = {"base_url": server.url, "model": "served", "api_key_env": "SELFTRAIN_UNSET_KEY"}
        settings.update(max_retries=1, retry_backoff_s=0.01, max_concurrency=1)
        data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts")
        data["answers"].update(backend="openai", server=settings)
        data["retries"] = {"count": 1, "delay_s": [0]}
        cfg = build_run_config(data)

        app.state.faults["fail_500"] = 2  # the first request and its one retry: the stage stops, the server is back
        state = self_train(config=cfg, stop_after="answers", return_state=True)
        assert state.is_completed() and app.state.faults["fail_500"] == 0
        (run,) = answers_runs(state.state_details.flow_run_id)
        assert run.run_count == 2, "one failed attempt, one retry"
        refs = state.result()
        assert ArtifactStore(cfg.artifact_root).is_complete("answers", refs["answers"].key)

        wrong = build_run_config({**data, "answers": {**data["answers"], "server": {**settings, "model": "tiny"},
                                                      "temperature": 0.7}})  # fmt: skip
        state = self_train(config=wrong, stop_after="answers", return_state=True)
        assert state.is_failed()
        with pytest.raises(ServedModelNotFoundError):
            state.result()
        (run,) = answers_runs(state.state_details.flow_run_id)
        assert run.run_count == 1, "a user's mistake is not retried"
