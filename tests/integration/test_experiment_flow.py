"""The experiment flow under prefect_test_harness on the tiny local models: a sweep on one half of the documents,
the ablation arms on the other, each arm trained on the data it is specified to get."""

import statistics

import pytest

from flows.experiment import experiment
from selftrain_core.config.loading import build_run_config
from selftrain_core.stages.evaluate.sets import document_half
from selftrain_core.store import ArtifactStore
from tests.conftest import tiny_config_data
from tests.pipeline import run_pipeline

pytestmark = pytest.mark.integration


def test_the_experiment_sweeps_on_one_half_and_reports_the_arms_on_the_other(
    tiny_lm, tiny_embedder, corpus_file, tmp_path, prefect_server
):
    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts")
    data["evaluate"]["judge"] = {"enabled": False}
    refs, _ = run_pipeline(build_run_config(data), stop_after="score")
    store = ArtifactStore(str(tmp_path / "artifacts"))
    # a known threshold inside the observed scores, so some training questions are known and some are not
    s_k = sorted(s["s_k"] for s in store.read_rows(refs["score"]) if s["split"] == "train")
    data["curate"] = {"answerable_threshold": 0.0, "known_threshold": statistics.median(s_k)}
    cfg = build_run_config(data)
    result = experiment(config=cfg, grid={"train.learning_rate": [0.0002, 0.001]})
    selection, report = (store.manifest("evaluate", result[k].key) for k in ("selection", "report"))
    assert selection["config"]["arms"] == ["v0", "v1"] and report["config"]["arms"] == [
        "method",
        "no_filter",
        "sft_only",
    ]
    assert result["chosen"] in ({"train.learning_rate": 0.0002}, {"train.learning_rate": 0.001})
    for manifest, half in ((selection, "select"), (report, "report")):
        rows = store.read_rows(store.ref("evaluate", manifest["key"]))
        assert rows and {document_half(r["doc_id"], cfg.seed) for r in rows} == {half}, "no question in both"
    # each arm's training data, by its curate artifact
    train_of = {arm: ref for arm, ref in zip(report["config"]["arms"], report["parents"], strict=False)}
    curated = {}
    for arm, ref in train_of.items():
        curate_ref = store.manifest("train", ref["key"])["parents"][0]
        curated[arm] = store.manifest("curate", curate_ref["key"])
        curated[arm]["rows"] = store.read_rows(store.ref("curate", curate_ref["key"]), "sft")
    known = {s["question_id"] for s in store.read_rows(refs["score"]) if s["s_k"] >= cfg.curate.known_threshold}
    method_ids = {r["question_id"] for r in curated["method"]["rows"]}
    assert method_ids and not method_ids & known, "the method never trains on a known question"
    no_filter_ids = {r["question_id"] for r in curated["no_filter"]["rows"]}
    assert no_filter_ids & known, "without filtering, known questions are trained on too"
    assert len(no_filter_ids) == len(method_ids) == result["budget"], "the same budget"
    assert curated["sft_only"]["key"] == curated["method"]["key"], "SFT only: the method's data"
    assert store.manifest("train", train_of["sft_only"]["key"])["config"]["train"]["method"] == "sft"

    as_given = experiment(config=cfg)  # no grid: nothing to choose, the report half only
    assert as_given["selection"] is None and as_given["chosen"] == {}
    assert store.manifest("evaluate", as_given["report"].key)["config"]["evaluate"]["documents"] == "report"
