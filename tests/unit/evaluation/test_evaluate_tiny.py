"""The evaluate stage on tiny local models: reproducible, judged in both orders with a cache, a full report."""

from __future__ import annotations

import pytest

from selftrain_core.config_loading import build_run_config
from selftrain_core.stages import evaluate
from selftrain_core.stages.base import RunInfo
from selftrain_core.store import ArtifactStore
from tests.conftest import tiny_config_data
from tests.pipeline import run_pipeline


@pytest.fixture(scope="module")
def trained(tiny_lm, tiny_embedder, corpus_file, tmp_path_factory):
    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path_factory.mktemp("eval") / "artifacts")
    cfg = build_run_config(data)
    refs, _ = run_pipeline(cfg, stop_after="train")
    return data, refs


def run_evaluate(data, refs, root, **evaluate_settings):
    """Evaluate the trained artifact into a fresh root (its parents copied there), or the same root."""
    cfg = build_run_config({**data, "evaluate": {**data["evaluate"], **evaluate_settings}})
    source = ArtifactStore(cfg.artifact_root)
    store = ArtifactStore(root) if root else source
    if root:
        for ref in refs.values():
            source.fs.get(source.dir(ref.stage, ref.key), store.dir(ref.stage, ref.key), recursive=True)
    plan = evaluate.plan(cfg, refs["train"], refs["answers"], refs["score"], refs["chunk"])
    ref = evaluate.run(cfg, plan, store, RunInfo(run_id="t"), log=lambda _: None)
    return store, ref


def test_same_inputs_and_seed_give_the_same_report_plots_and_metrics(trained, tmp_path):
    data, refs = trained
    first_store, first = run_evaluate(data, refs, str(tmp_path / "one"))
    second_store, second = run_evaluate(data, refs, str(tmp_path / "two"))
    assert first.key == second.key
    one, two = first_store.manifest("evaluate", first.key), second_store.manifest("evaluate", second.key)
    assert one["files"] == two["files"], "same bytes: tables, report.md and every plot"
    assert one["metrics"] == two["metrics"]
    assert two["judge_verdicts_asked"] == 0, "the second run's verdicts come from the cache"


def test_the_report_has_every_section_and_the_metrics_their_intervals(trained, tmp_path):
    data, refs = trained
    store, ref = run_evaluate(data, refs, str(tmp_path / "doc"), with_document=True)
    report = store.fs.cat_file(f"{store.dir('evaluate', ref.key)}/report.md").decode()
    for needle in (
        "| metric | base | trained | base+document | trained-base |",
        "Retention",
        "AUROC",
        "Pairwise judge",
        "position-flip rate",
        "longer answer",
        "![Base vs trained](plots/models.png)",
    ):
        assert needle in report, needle
    files = store.manifest("evaluate", ref.key)["files"]
    assert {"plots/models.png", "plots/scores.png", "plots/reliability.png"} <= set(files)
    assert store.fs.cat_file(f"{store.dir('evaluate', ref.key)}/plots/models.png")[:4] == b"\x89PNG"
    metrics = {(m["model"], m["metric"]): m for m in store.read_rows(ref, "metrics")}
    f1 = metrics[("trained-base", "f1")]
    assert f1["ci_low"] <= f1["value"] <= f1["ci_high"] and f1["n"] == metrics[("base", "f1")]["n"]
    wins = sum(metrics[("judge", k)]["value"] for k in ("trained_win", "base_win", "tie"))
    assert wins == pytest.approx(1.0)
    rows = store.read_rows(ref)
    assert {r["model"] for r in rows} == {"base", "trained", "base+document"}
    threshold = store.manifest("evaluate", ref.key)["config"]["evaluate"]["hallucination_threshold"]
    assert all(0.0 <= r["support"] <= 1.0 and r["hallucinated"] == float(r["support"] < threshold) for r in rows)
    verdicts = store.read_rows(ref, "judge")
    assert len(verdicts) == metrics[("base", "f1")]["n"]


def test_the_judge_can_be_turned_off_and_another_judge_model_changes_the_key(trained, tmp_path, tiny_lm):
    data, refs = trained
    cfg = build_run_config(data)
    off = build_run_config({**data, "evaluate": {**data["evaluate"], "judge": {"enabled": False}}})
    keys = {evaluate.plan(c, refs["train"], refs["answers"], refs["score"], refs["chunk"]).key for c in (cfg, off)}
    assert len(keys) == 2
    store, ref = run_evaluate(data, refs, str(tmp_path / "off"), judge={"enabled": False})
    assert not any(m["model"] == "judge" for m in store.read_rows(ref, "metrics"))


def test_the_hallucination_check_can_use_an_nli_model(trained, tmp_path, tiny_nli):
    data, refs = trained
    data = {**data, "score": {"nli": {"name": str(tiny_nli)}}}
    store, ref = run_evaluate(data, refs, str(tmp_path / "nli"), hallucination_check="nli", judge={"enabled": False})
    manifest = store.manifest("evaluate", ref.key)
    assert "hallucination_nli" in {m["role"] for m in manifest["models"]}
    rows = store.read_rows(ref)
    assert all(0.0 <= r["support"] <= 1.0 for r in rows) and len({r["support"] for r in rows}) > 1
    report = store.fs.cat_file(f"{store.dir('evaluate', ref.key)}/report.md").decode()
    assert "entails the answer" in report
