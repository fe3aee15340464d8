"""`evaluate.suite`: an exported regression suite becomes the evaluation set `suite`, graded by its references; its
content (version), not its path, enters the key; a missing or malformed suite is refused at preflight."""

from __future__ import annotations

import json
import shutil

import pytest

from selftrain_core.config.loading import build_run_config
from selftrain_core.errors import ConfigError
from selftrain_core.export.suite import export_suite, read_suite
from selftrain_core.runs.resolution import check_names_resolve
from selftrain_core.stages.base import RunInfo
from selftrain_core.stages.curate.config import CurateConfig
from selftrain_core.stages.evaluate import stage as evaluate
from selftrain_core.stages.evaluate.metrics import token_f1
from selftrain_core.store import ArtifactStore
from tests.conftest import tiny_config_data
from tests.pipeline import run_pipeline


@pytest.fixture(scope="module")
def trained(tiny_lm, tiny_embedder, corpus_file, tmp_path_factory):
    """A trained tiny run and two suites of its score artifact (every answerable question; only contradicted ones)."""
    folder = tmp_path_factory.mktemp("suite-eval")
    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, folder / "artifacts")
    data["train"].update(learning_rate=0.01)
    # a small evaluation: held_out and the suite, the judge on the suite only
    data["evaluate"].update(sets=["held_out"], judge={"sets": ["suite"]}, max_questions_per_set=4)
    refs, _ = run_pipeline(build_run_config(data), stop_after="train")
    store = ArtifactStore(data["artifact_root"])
    everything = CurateConfig(answerable_threshold=0.0, known_threshold=1.0)
    export_suite(store, refs["score"], folder / "all", everything, -1.0)
    scores = sorted(min(s["no_doc_scores"]) for s in store.read_rows(refs["score"]))
    export_suite(store, refs["score"], folder / "some", everything.model_copy(update={"known_threshold": 0.0}),
                 scores[len(scores) // 2])  # fmt: skip
    return data, refs, folder


def config(data, suite=None, **evaluate_settings):
    return build_run_config({**data, "evaluate": {**data["evaluate"], "suite": suite, **evaluate_settings}})


def plan_of(cfg, refs):
    return evaluate.plan(cfg, refs["train"], refs["answers"], refs["score"], refs["chunk"])


def test_evaluate_reports_the_suite_set_graded_by_its_references(trained):
    data, refs, folder = trained
    cfg = config(data, str(folder / "all"))
    store = ArtifactStore(cfg.artifact_root)
    ref = evaluate.run(cfg, plan_of(cfg, refs), store, RunInfo(run_id="t"), log=lambda _: None)
    _, suite = read_suite(folder / "all")
    by_id = {r["suite_id"]: r for r in suite}
    rows = [r for r in store.read_rows(ref) if r["set"] == "suite"]
    assert {r["model"] for r in rows} == {"base", "trained"}
    assert len(rows) == 2 * min(4, len(suite)) and {r["question_id"] for r in rows} <= set(by_id)
    for r in rows:
        assert (r["question"], r["reference"]) == (
            by_id[r["question_id"]]["question"],
            by_id[r["question_id"]]["reference"],
        )
        assert r["f1"] == pytest.approx(token_f1(r["answer"], r["reference"]))
    metrics = {(m["set"], m["model"], m["metric"]) for m in store.read_rows(ref, "metrics")}
    assert {("suite", "base", "f1"), ("suite", "trained-base", "correct"), ("suite", "judge:trained", "win")} <= metrics
    assert not any(s == "suite" and m == "scorer" for s, m, _ in metrics), "no AUROC on a set chosen by S_K"
    assert {v["set"] for v in store.read_rows(ref, "judge")} == {"suite"}
    report = store.fs.cat_file(f"{store.dir('evaluate', ref.key)}/report.md").decode()
    assert "## Regression suite: hard questions of an earlier run" in report and "## Held-out documents" in report
    manifest = store.manifest("evaluate", ref.key)
    assert manifest["questions"]["suite"] == len(rows) // 2


def test_the_key_holds_the_suite_version_not_its_path(trained, tmp_path):
    data, refs, folder = trained
    without = plan_of(config(data), refs)
    with_all = plan_of(config(data, str(folder / "all")), refs)
    assert with_all.key != without.key
    assert with_all.settings["evaluate"]["suite"] == read_suite(folder / "all")[0]["version"]
    shutil.copytree(folder / "all", tmp_path / "moved")
    assert plan_of(config(data, str(tmp_path / "moved")), refs).key == with_all.key, "a moved suite: same key"
    assert plan_of(config(data, str(folder / "some")), refs).key not in (with_all.key, without.key)


def test_a_missing_or_malformed_suite_is_refused_at_preflight(trained, tmp_path):
    data, refs, folder = trained
    check_names_resolve(config(data, str(folder / "all")))
    shutil.copytree(folder / "all", tmp_path / "edited")
    lines = (tmp_path / "edited" / "suite.jsonl").read_text().splitlines()
    edited = {**json.loads(lines[0]), "reference": "something else"}
    (tmp_path / "edited" / "suite.jsonl").write_text("\n".join([json.dumps(edited), *lines[1:]]) + "\n")
    shutil.copytree(folder / "all", tmp_path / "broken")
    (tmp_path / "broken" / "suite.json").write_text("{not json")
    (tmp_path / "empty").mkdir()
    for path, why in (
        (tmp_path / "nowhere", "does not exist"),
        (tmp_path / "empty", "not a suite folder"),
        (tmp_path / "broken", "unreadable"),
        (tmp_path / "edited", "do not match version"),
    ):
        with pytest.raises(ConfigError, match=why) as caught:
            check_names_resolve(config(data, str(path)))
        assert str(caught.value).startswith("evaluate.suite: ")


def test_the_suite_set_comes_from_evaluate_suite_only(trained):
    data, _, _ = trained
    with pytest.raises(ConfigError, match="added by evaluate.suite"):
        config(data, sets=["held_out", "suite"])
    assert config(data, "relative/suite").evaluate.suite.startswith("/")
