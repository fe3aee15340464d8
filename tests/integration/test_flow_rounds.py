"""The self-train flow over several rounds, under prefect_test_harness, on the tiny local models."""

import httpx
import pytest
from prefect.settings import PREFECT_API_URL

from flows.self_train import self_train
from selftrain_core.config.loading import build_run_config
from selftrain_core.store import ArtifactStore
from tests.conftest import tiny_config_data

pytestmark = pytest.mark.integration


def markdown_artifact(flow_run_id, key: str) -> str:
    # Raw API call: prefect 3.8.8's client sends null filter sections that the pinned server rejects (422).
    body = {"artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}, "key": {"any_": [key]}}, "limit": 5}
    response = httpx.post(f"{PREFECT_API_URL.value()}/artifacts/filter", json=body, timeout=30)
    response.raise_for_status()
    return response.json()[0]["data"]


def test_rounds_run_while_the_gate_passes_and_stop_when_it_does_not(
    tiny_lm, tiny_embedder, corpus_file, tmp_path, prefect_server
):
    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts")
    data["evaluate"]["judge"] = {"enabled": False}
    always = build_run_config({**data, "rounds": {"count": 3, "gate_margin": -1.0}})  # any change passes
    never = build_run_config({**data, "rounds": {"count": 3, "gate_margin": 1.0}})  # no change passes
    state = self_train(config=always, return_state=True)
    refs = state.result()
    store = ArtifactStore(always.artifact_root)
    assert store.manifest("evaluate", refs["evaluate"].key)["run"]["iteration"] == 3
    page = markdown_artifact(state.state_details.flow_run_id, "self-train-rounds")
    assert page.count("| pass: ") == 3 and "| 3 |" in page and "| 4 |" not in page, "stops at rounds.count"

    stopped = self_train(config=never, return_state=True)
    assert store.manifest("evaluate", stopped.result()["evaluate"].key)["run"]["iteration"] == 1
    page = markdown_artifact(stopped.state_details.flow_run_id, "self-train-rounds")
    assert "stop: f1 improved by" in page and "| 2 |" not in page


def test_the_run_page_links_every_round_and_stage():
    from selftrain_core.store import ArtifactRef
    from tasks.run_page import run_page

    refs = {s: ArtifactRef(stage=s, key=f"k-{s}", uri=f"file:///a/{s}/k-{s}") for s in ("answers", "evaluate")}
    page = run_page("demo", [refs, refs], ["pass: f1 improved by +0.020 over base"], "Trained and evaluated 2 round(s)")
    assert page.count("## Round") == 2 and "[`k-answers`](file:///a/answers/k-answers)" in page
    assert "(/artifacts/key/evaluation-report)" in page and "Gate: pass: f1 improved" in page
