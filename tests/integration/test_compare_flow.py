"""The compare flow under prefect_test_harness on the tiny local models: one arm per curate strategy, trained from
the same samples, evaluated together against base, and the table names every arm with its numbers."""

import statistics

import pytest
from prefect.testing.utilities import prefect_test_harness

from flows.compare import compare
from selftrain_core.config.loading import build_run_config
from selftrain_core.runs.compare import comparison_table, strategy_configs
from selftrain_core.stages.curate.strategies import STRATEGIES
from selftrain_core.store import ArtifactStore
from tests.conftest import tiny_config_data
from tests.pipeline import run_pipeline


def test_each_strategy_is_an_arm_with_the_method_its_rows_need(tiny_lm, tiny_embedder, corpus_file, tmp_path):
    cfg = build_run_config(tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts"))
    arms = strategy_configs(cfg)
    assert set(arms) == {s.replace("-", "_") for s in STRATEGIES} | {"no_filter"}
    assert arms["rejection_sampling"].train.method == arms["sft_references"].train.method == "sft"
    assert arms["confident_preference"].train.method == cfg.train.method == "dpo"
    assert arms["self_rewarding"].score.scorer == "self-reward" and arms["knowledge_detection"].score == cfg.score
    assert not arms["no_filter"].curate.knowledge_filter and arms["knowledge_detection"].curate.knowledge_filter
    assert arms["inner_knowledge"].answers.explicitation and not arms["knowledge_detection"].answers.explicitation
    assert arms["inner_knowledge"].train.method == "dpo"


def test_the_table_has_a_row_per_arm_with_its_paired_differences():
    metrics = [
        {"set": "held_out", "model": "a-base", "metric": "correct", "value": 0.25, "ci_low": -0.1, "ci_high": 0.5},
        {"set": "held_out", "model": "judge:a", "metric": "win", "value": 0.5, "ci_low": 0.2, "ci_high": 0.8},
    ]
    table = comparison_table(metrics, {"a": {"method": "sft", "pairs": 0, "sft_rows": 7, "seconds": 12.3}})
    row = table.splitlines()[2]
    assert row.startswith("| a | sft | 0 | 7 | 12 | +0.250 [-0.100, +0.500] |")
    assert "+0.500 [+0.200, +0.800] / - / -" in row and "judge held_out win / tie / loss" in table.splitlines()[0]


@pytest.mark.integration
def test_the_compare_flow_trains_and_evaluates_every_strategy_together(tiny_lm, tiny_embedder, corpus_file, tmp_path):
    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts")
    data["evaluate"]["judge"] = {"enabled": False}
    refs, _ = run_pipeline(build_run_config(data), stop_after="score")
    store = ArtifactStore(str(tmp_path / "artifacts"))
    # thresholds inside the observed scores, so every strategy finds rows to train on
    s_k = sorted(s["s_k"] for s in store.read_rows(refs["score"]) if s["split"] == "train")
    data["curate"] = {"answerable_threshold": 0.0, "known_threshold": statistics.median(s_k) + 1e-9}
    per_sample = sorted(v for s in store.read_rows(refs["score"]) for v in s["no_doc_scores"])
    data["curate"] |= {"accept_threshold": per_sample[len(per_sample) // 2], "contradict_threshold": per_sample[0]}
    cfg = build_run_config(data)
    with prefect_test_harness(server_startup_timeout=60):
        result = compare(config=cfg)
    manifest = store.manifest("evaluate", result["evaluate"].key)
    assert manifest["config"]["arms"] == list(result["train"]) and len(result["train"]) >= 4
    # the tiny model's rubric grades are unreadable (all 0.5): self-rewarding has no pair, and the table says so
    assert (
        "self_rewarding" not in result["train"]
        and "| self_rewarding | dpo | 0 | 0 | 0 | nothing to train |" in (result["table"])
    )
    for arm in strategy_configs(cfg):
        assert f"| {arm} |" in result["table"], arm
    assert "held_out correct - base" in result["table"]
