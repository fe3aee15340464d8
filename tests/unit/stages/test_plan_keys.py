"""The artifact keys of the offline preset are pinned: a refactor (issue "A house a newcomer can live in") must not
move them, or every user's cache goes stale at once. A change that should move a key (a stage's VERSION, a new result
setting) updates the pinned value here, in the same commit, saying why."""

from __future__ import annotations

from selftrain_core.config_loading import load_run_config
from tests.pipeline import plan_keys

PINNED = {
    "ingest": "8879bb77a851e056900b",
    "chunk": "129beb928d2498581e87",
    "questions": "946d9e1ce954659c3952",
    "answers": "035905f5c30ea36ed4b1",
    "score": "cac5ecd06280c30c6b84",
    "curate": "47a05a8d6b5c2733c313",
    "train": "f9a87c0432be57d221b6",
    "evaluate": "4205492e49f1510444ec",
}


def test_the_offline_preset_keys_do_not_move():
    assert plan_keys(load_run_config("offline-cpu")) == PINNED  # each stage planned on the one before, nothing runs


def test_keys_depend_on_results_not_on_where_artifacts_live_or_runtime_settings():
    cfg = load_run_config(
        "offline-cpu", ["artifact_root=memory://elsewhere", "answers.batch_size=3", "model.device=cpu"]
    )
    assert plan_keys(cfg) == PINNED
    moved = plan_keys(load_run_config("offline-cpu", ["curate.known_threshold=0.7"]))
    assert {s for s in PINNED if moved[s] != PINNED[s]} == {"curate", "train", "evaluate"}
