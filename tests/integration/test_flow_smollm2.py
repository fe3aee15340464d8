"""The self-train flow under prefect_test_harness with the real offline SmolLM2, on a handful of documents."""

import shutil
import time

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.client.schemas.sorting import TaskRunSort
from prefect.settings import PREFECT_API_URL

from flows.self_train import self_train
from selftrain_core.config import STAGES
from selftrain_core.config.loading import load_run_config
from selftrain_core.stages.train import stage as train
from selftrain_core.store import ArtifactStore
from selftrain_core.store.lineage import walk

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def harness(prefect_server):
    """This process's Prefect test server (tests/conftest.py), for every test of the module."""


def small_config(root):
    return load_run_config(
        None,
        [
            f"artifact_root={root}",
            "ingest.source.categories=[Geography, Technology]",
            "ingest.source.documents_per_category=4",
            "ingest.test_fraction=0.25",
            "questions.filters=[empty, not_a_question]",
            "answers.num_samples=2",
            "answers.max_new_tokens=24",
            "answers.shard_size=3",
            "curate.answerable_threshold=0",
            "curate.known_threshold=1",
            "train.num_epochs=1",
            "evaluate.max_new_tokens=24",
            # not train_new: writing and answering new questions is 40 of evaluate's 62 s here; that set is covered
            # by the tiny-model evaluate tests and the Ray evaluate test
            "evaluate.sets=[held_out, known, gold_train, gold_held_out]",
            "evaluate.bootstrap_samples=100",
        ],
    )


def task_states(flow_run_id, settle_s: float = 30.0) -> dict[str, str]:
    """Each task's final state. The server records task states from events, a moment after the flow returns on a
    loaded machine: wait until none is still Pending or Running, or has no state recorded yet (None)."""
    deadline = time.monotonic() + settle_s
    while True:
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                sort=TaskRunSort.EXPECTED_START_TIME_ASC,
                limit=100,
            )
        states = {run.name.rsplit("-", 1)[0]: run.state.name if run.state else None for run in runs}
        if not {"Pending", "Running", None} & set(states.values()) or time.monotonic() > deadline:
            return states
        time.sleep(0.5)


def artifact_keys(flow_run_id) -> set[str]:
    # Raw API call: prefect 3.8.8's client sends null filter sections that the pinned server rejects (422).
    body = {"artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}}, "limit": 100, "offset": 0}
    response = httpx.post(f"{PREFECT_API_URL.value()}/artifacts/filter", json=body, timeout=30)
    response.raise_for_status()
    return {a["key"] for a in response.json()}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("flow") / "artifacts"


def test_flow_runs_caches_and_recomputes_missing_files(harness, root):
    cfg = small_config(root)
    first = self_train(config=cfg, return_state=True)
    refs = first.result()
    assert list(refs) == list(STAGES)
    store = ArtifactStore(cfg.artifact_root)
    assert all(store.verify(s, r.key) == [] for s, r in refs.items())
    states = task_states(first.state_details.flow_run_id)
    assert set(states.values()) == {"Completed"}, states
    published = artifact_keys(first.state_details.flow_run_id)
    assert {"answers-summary", "answers-sample", "evaluate-summary", "evaluation-report"} <= published
    assert {"evaluation-sets", "evaluation-reliability", "evaluation-scores"} <= published
    assert {"self-train-run", "answers-progress", "questions-progress"} <= published

    pair = store.read_rows(refs["curate"])[0]["pair_id"]
    assert [s.stage for s in walk(store, pair)][-1] == "ingest"

    second = self_train(config=cfg, return_state=True)
    assert second.result() == refs
    states = task_states(second.state_details.flow_run_id)
    assert set(states.values()) == {"Cached"}, states

    # a stage in the middle lost its files: it alone is computed again (the same key), the stages after it that
    # read it are still cache hits (score, not evaluate: the same check without a second SmolLM2 evaluation)
    shutil.rmtree(store.dir("score", refs["score"].key))
    third = self_train(config=cfg, return_state=True)
    assert third.result() == refs
    states = task_states(third.state_details.flow_run_id)
    assert states.pop("score") == "Completed" and set(states.values()) == {"Cached"}, states
    assert store.verify("score", refs["score"].key) == []


def test_an_empty_curated_dataset_ends_the_flow_with_a_record_that_no_model_was_trained(harness, root):
    cfg = small_config(root)  # the stages above curate are cache hits from the test above
    cfg = cfg.model_copy(update={"curate": cfg.curate.model_copy(update={"known_threshold": 0.0})})
    state = self_train(config=cfg, return_state=True)
    assert state.is_completed()
    refs = state.result()
    assert list(refs) == ["ingest", "chunk", "questions", "answers", "score", "curate"], "no train, no evaluate"
    assert {"self-train-outcome", "self-train-run"} <= artifact_keys(state.state_details.flow_run_id)
    store = ArtifactStore(cfg.artifact_root)
    assert not store.fs.exists(store.dir("train", train.plan(cfg, refs["curate"]).key))
