"""`export-suite` on the tiny pipeline: the rows follow the rule on the actual scores, their lineage resolves, the
version follows the rows' content, the JSONL and the dataset load, and an existing folder is refused."""

from __future__ import annotations

import json

import datasets
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from selftrain_cli.app import app
from selftrain_core.config.loading import build_run_config
from selftrain_core.errors import ConfigError
from selftrain_core.export.suite import export_suite, read_suite, suite_version
from selftrain_core.stages.curate.config import CurateConfig
from selftrain_core.stages.evaluate.stage import JUDGE_SCHEMA
from selftrain_core.store import ArtifactStore, ArtifactWriter
from selftrain_core.store.lineage import walk
from tests.conftest import tiny_config_data
from tests.pipeline import run_pipeline


@pytest.fixture(scope="module")
def scored(tiny_lm, tiny_embedder, corpus_file, tmp_path_factory):
    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path_factory.mktemp("suite") / "artifacts")
    refs, _ = run_pipeline(build_run_config(data), stop_after="score")
    store = ArtifactStore(data["artifact_root"])
    scores = store.read_rows(refs["score"])
    # thresholds inside the scores, so each rule decides something: the lowest S_L is unanswerable, half the
    # answerable questions are known, and the lowest sample score of a known question is a contradiction
    s_l = sorted({s["s_l"] for s in scores})
    answerable = [s for s in scores if s["s_l"] >= s_l[1]]
    s_k = sorted({s["s_k"] for s in answerable})
    curate = CurateConfig(answerable_threshold=s_l[1], known_threshold=s_k[len(s_k) // 2])
    known = [s for s in answerable if s["s_k"] >= curate.known_threshold]
    contradict = min(min(s["no_doc_scores"]) for s in known)
    return store, refs, curate, contradict


def expected_reasons(store, refs, curate, contradict) -> dict[str, list[str]]:
    """question_id -> reasons, written out from the rule on the score and answers rows."""
    references = {a["answer_id"]: a["reference"] for a in store.read_rows(refs["answers"])}
    expected = {}
    for s in store.read_rows(refs["score"]):
        if s["s_l"] < curate.answerable_threshold or not references[s["answer_id"]].strip():
            continue
        reasons = (["unknown"] if s["s_k"] < curate.known_threshold else []) + (
            ["contradicted"] if min(s["no_doc_scores"]) <= contradict else []
        )
        if reasons:
            expected[s["question_id"]] = reasons
    return expected


def test_the_rows_are_the_answerable_questions_that_meet_the_rule(scored, tmp_path):
    store, refs, curate, contradict = scored
    meta = export_suite(store, refs["score"], tmp_path / "suite", curate, contradict)
    _, rows = read_suite(tmp_path / "suite")
    expected = expected_reasons(store, refs, curate, contradict)
    assert {r["question_id"]: r["reasons"] for r in rows} == expected
    assert len(expected) < len(store.read_rows(refs["score"])), "the unanswerable question is left out"
    reasons = [r["reasons"] for r in rows]
    assert ["unknown"] in reasons or ["unknown", "contradicted"] in reasons
    assert ["contradicted"] in reasons, "a known question whose worst sample contradicts the reference"
    assert meta["rows"] == len(rows) and meta["version"] == suite_version(rows)
    assert meta["rule"]["contradict_threshold"] == contradict


def test_every_lineage_field_resolves_to_a_real_row(scored, tmp_path):
    store, refs, curate, contradict = scored
    export_suite(store, refs["score"], tmp_path / "suite", curate, contradict)
    _, rows = read_suite(tmp_path / "suite")
    docs = {d["doc_id"]: d for d in store.read_rows(refs["ingest"])}
    chunks = {c["chunk_id"]: c for c in store.read_rows(refs["chunk"])}
    questions = {q["question_id"]: q for q in store.read_rows(refs["questions"])}
    answers = {a["answer_id"]: a for a in store.read_rows(refs["answers"])}
    scores = {s["score_id"]: s for s in store.read_rows(refs["score"])}
    for r in rows:
        s, a, q = scores[r["score_id"]], answers[r["answer_id"]], questions[r["question_id"]]
        assert (s["answer_id"], s["question_id"], s["s_l"], s["s_k"]) == (a["answer_id"], q["question_id"], r["s_l"],
                                                                          r["s_k"])  # fmt: skip
        assert (a["question"], a["reference"], a["chunk_id"]) == (r["question"], r["reference"], r["chunk_id"])
        assert q["chunk_id"] == r["chunk_id"] and chunks[r["chunk_id"]]["text"] == r["document"]
        doc = docs[chunks[r["chunk_id"]]["doc_id"]]
        assert (doc["doc_id"], doc["title"], doc["source_revision"]) == (r["doc_id"], r["title"], r["source_revision"])
        assert r["artifacts"] == {stage: ref.key for stage, ref in refs.items()}
        steps = walk(store, r["score_id"])
        assert steps[0].row_id == r["score_id"] and steps[-1].row_id == r["doc_id"]


def test_the_version_follows_the_rows_content_only(scored, tmp_path):
    store, refs, curate, contradict = scored
    one = export_suite(store, refs["score"], tmp_path / "one", curate, contradict)
    two = export_suite(store, refs["score"], tmp_path / "two", curate, contradict)
    assert one["version"] == two["version"], "same rows, same version (the export time is not in it)"
    fewer = export_suite(store, refs["score"], tmp_path / "fewer", curate, -1.0)  # no sample contradicts
    assert fewer["rows"] < one["rows"] and fewer["version"] != one["version"]
    _, rows = read_suite(tmp_path / "one")
    assert suite_version(list(reversed(rows))) == one["version"]
    edited = [{**rows[0], "reference": rows[0]["reference"] + " more"}, *rows[1:]]
    assert suite_version(edited) != one["version"]


def test_the_jsonl_the_dataset_and_the_card_load_and_agree(scored, tmp_path):
    store, refs, curate, contradict = scored
    meta = export_suite(store, refs["score"], tmp_path / "suite", curate, contradict)
    out = tmp_path / "suite"
    lines = [json.loads(line) for line in (out / "suite.jsonl").read_text().splitlines()]
    loaded = datasets.load_from_disk(str(out))["test"]
    assert loaded.num_rows == len(lines) == meta["rows"]
    assert loaded["suite_id"] == [r["suite_id"] for r in lines] and loaded["reasons"] == [r["reasons"] for r in lines]
    assert json.loads((out / "suite.json").read_text())["version"] == meta["version"]
    card = (out / "README.md").read_text()
    assert meta["version"] in card and refs["score"].key in card and refs["ingest"].key in card
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary folder is left beside it"


def test_an_existing_folder_is_refused_and_an_empty_one_is_filled(scored, tmp_path):
    store, refs, curate, contradict = scored
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="exists and is not empty"):
        export_suite(store, refs["score"], tmp_path / "full", curate, contradict)
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]
    (tmp_path / "empty").mkdir()
    export_suite(store, refs["score"], tmp_path / "empty", curate, contradict)
    assert (tmp_path / "empty" / "suite.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "full"]


def fake_evaluation(store, score_ref, verdicts):
    """An evaluate artifact made from `score_ref` whose judge table holds `verdicts`."""
    writer = ArtifactWriter(store, "evaluate", "fake-" + score_ref.key[:8])
    rows = [{"set": "held_out", "arm": "trained", "base_first_raw": "", "trained_first_raw": "", **v} for v in verdicts]
    writer.write_table("judge", pa.Table.from_pylist(rows, schema=JUDGE_SCHEMA))
    return writer.commit({"parents": [score_ref.model_dump()]})


def test_questions_the_judge_gave_to_base_or_split_on_join_the_suite(scored, tmp_path):
    store, refs, _, _ = scored
    ids = sorted(a["question_id"] for a in store.read_rows(refs["answers"]) if a["reference"].strip())[:3]
    evaluated = fake_evaluation(
        store,
        refs["score"],
        [
            {"question_id": ids[0], "base_first": "A", "trained_first": "B", "outcome": "base"},  # lost in both
            {"question_id": ids[1], "base_first": "B", "trained_first": "B", "outcome": "tie"},  # orders disagree
            {"question_id": ids[2], "base_first": "B", "trained_first": "A", "outcome": "trained"},  # won
        ],
    )
    everything_known = CurateConfig(answerable_threshold=0.0, known_threshold=0.0)
    meta = export_suite(store, refs["score"], tmp_path / "judged", everything_known, -1.0, evaluated)
    _, rows = read_suite(tmp_path / "judged")
    assert {r["question_id"]: r["reasons"] for r in rows} == {ids[0]: ["judge_lost"], ids[1]: ["judge_disagreed"]}
    assert rows[0]["artifacts"]["evaluate"] == evaluated.key and evaluated.key in meta["rule"]["judge"]
    other = ArtifactWriter(store, "evaluate", "unrelated")
    other.write_table("judge", pa.Table.from_pylist([], schema=JUDGE_SCHEMA))
    with pytest.raises(ConfigError, match="was not made from score artifact"):
        export_suite(store, refs["score"], tmp_path / "x", everything_known, -1.0, other.commit({"parents": []}))


def test_the_cli_exports_a_suite_and_refuses_an_existing_folder(scored, tmp_path):
    store, refs, curate, contradict = scored
    args = ["--root", store.url, "--score", refs["score"].key, "--contradict", str(contradict)]
    overrides = [f"curate.{k}={getattr(curate, k)}" for k in ("answerable_threshold", "known_threshold")]
    out = CliRunner().invoke(app, ["export-suite", str(tmp_path / "cli"), *args, *overrides])
    assert out.exit_code == 0, out.output
    meta, rows = read_suite(tmp_path / "cli")
    assert f"suite version {meta['version']}" in out.output
    assert {r["question_id"] for r in rows} == set(expected_reasons(store, refs, curate, contradict))
    again = CliRunner().invoke(app, ["export-suite", str(tmp_path / "cli"), *args, *overrides])
    assert isinstance(again.exception, ConfigError) and "not empty" in str(again.exception)
