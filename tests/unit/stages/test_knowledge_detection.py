"""Score with each kind of scorer, curate with each strategy, calibrate and export, on the tiny pipeline."""

import json

import datasets
import pytest
from typer.testing import CliRunner

from selftrain_cli.app import app
from selftrain_core.config.loading import build_run_config
from selftrain_core.errors import ConfigError
from selftrain_core.export.hf_dataset import export_dataset
from selftrain_core.runs.resolution import check_names_resolve
from selftrain_core.stages.base import RunInfo
from selftrain_core.stages.curate import stage as curate
from selftrain_core.stages.curate.calibration import sweep, truly_unknown
from selftrain_core.stages.evaluate.metrics import auroc
from selftrain_core.stages.score import stage as score
from selftrain_core.store import ArtifactStore
from tests.conftest import tiny_config_data
from tests.pipeline import run_pipeline
from tests.tiny_models import build_tiny_nli


@pytest.fixture(scope="module")
def answered(tiny_lm, tiny_embedder, corpus_file, tmp_path_factory):
    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path_factory.mktemp("kd") / "artifacts")
    refs, _ = run_pipeline(build_run_config(data), stop_after="answers")
    return data, refs


def _cfg(data, **sections):
    return build_run_config({**data, **sections})


def _score(cfg, refs):
    store = ArtifactStore(cfg.artifact_root)
    ref = score.run(cfg, score.plan(cfg, refs["answers"]), store, RunInfo(), log=lambda _: None)
    return store, ref


@pytest.mark.parametrize(
    "settings",
    [
        {"scorer": "selfcheck-nli"},
        {"scorer": "bsdetector"},
        {"scorer": "semantic-entropy", "consistency": "nli"},
        {"scorer": "predictive-entropy"},
        {"scorer": "self-reward"},
    ],
)
def test_score_stage_runs_each_scorer_and_records_its_models(settings, answered, tiny_nli):
    data, refs = answered
    cfg = _cfg(data, score={**settings, "nli": {"name": str(tiny_nli)}})
    store, ref = _score(cfg, refs)
    rows = store.read_rows(ref)
    manifest = store.manifest("score", ref.key)
    assert len(rows) == len(store.read_rows(refs["answers"]))
    assert {r["scorer"] for r in rows} == {settings["scorer"]}
    assert manifest["scorer"]["id"] == settings["scorer"] and manifest["stage_version"] == score.VERSION
    roles = {m["role"] for m in manifest["models"]}
    assert roles == {"selfcheck-nli": {"nli"}, "bsdetector": {"policy", "embedder"}, "self-reward": {"policy"}}.get(
        settings["scorer"], {"nli"} if settings.get("consistency") == "nli" else set()
    )
    for r in rows:
        assert 0.0 <= r["s_l"] <= 1.0 and 0.0 <= r["s_k"] <= 1.0
        assert len(r["no_doc_scores"]) == 2 and isinstance(json.loads(r["details"]), dict)
    if settings["scorer"] == "self-reward":  # every graded sample keeps the judge's raw reply
        assert all(len(json.loads(r["details"])["no_doc"]["replies"]) == 2 for r in rows)
    if settings["scorer"] == "bsdetector":
        assert all("grade" in json.loads(r["details"])["no_doc"] for r in rows)


def test_nli_scorer_the_machine_cannot_load_fails_at_preflight(answered, tmp_path):
    data, _ = answered
    with pytest.raises(ConfigError, match=r"score\.nli\.name.*not in the local Hugging Face cache"):
        check_names_resolve(_cfg(data, score={"scorer": "selfcheck-nli", "nli": {"name": "nobody/no-such-nli"}}))
    odd = build_tiny_nli(tmp_path / "odd", {0: "positive", 1: "negative", 2: "mixed"})
    with pytest.raises(ConfigError, match="cannot tell the NLI classes"):
        check_names_resolve(
            _cfg(data, score={"scorer": "semantic-entropy", "consistency": "nli", "nli": {"name": str(odd)}})
        )
    check_names_resolve(_cfg(data, score={"scorer": "semantic-entropy", "nli": {"name": "nobody/no-such-nli"}}))
    with pytest.raises(ConfigError, match=r"score\.nli\.name.*not in the local Hugging Face cache"):
        check_names_resolve(_cfg(data, evaluate={"hallucination_check": "nli"}, score={"nli": {"name": "nobody/x"}}))


@pytest.mark.parametrize("strategy", ["reference-vs-worst", "no-document"])
def test_curate_strategies_write_trl_tables(strategy, answered):
    data, refs = answered
    cfg = _cfg(data, curate={**data["curate"], "pair_strategy": strategy, "pairs_per_question": 2})
    store, score_ref = _score(cfg, refs)
    ref = curate.run(cfg, curate.plan(cfg, score_ref, refs["answers"]), store, RunInfo(), log=lambda _: None)
    pairs, sft = store.read_rows(ref), store.read_rows(ref, "sft")
    manifest = store.manifest("curate", ref.key)
    answers = {a["answer_id"]: a for a in store.read_rows(refs["answers"])}
    train = [s for s in store.read_rows(score_ref) if s["split"] == "train"]
    in_band = {
        s["question_id"]
        for s in train
        if s["s_l"] >= cfg.curate.answerable_threshold
        and s["s_k"] < cfg.curate.known_threshold
        and answers[s["answer_id"]]["reference"].strip()
    }
    assert in_band and {s["question_id"] for s in sft} == in_band and len(sft) == len(in_band)
    assert pairs and {p["strategy"] for p in pairs} == {strategy}
    assert {p["question_id"] for p in pairs} <= in_band  # every paired question has SFT
    assert manifest["counts"] == {"questions": len(train), "pairs": len(pairs), "sft": len(sft)}
    assert manifest["strategy"]["pair_strategy"] == strategy and "known_threshold" in manifest["thresholds"]
    by_question: dict[str, list[dict]] = {}
    for p in pairs:
        by_question.setdefault(p["question_id"], []).append(p)
        assert p["chosen"][0]["content"] != p["rejected"][0]["content"]
        answer = answers[p["answer_id"]]
        assert p["rejected"][0]["content"] in answer["no_doc"]
        if strategy == "no-document":
            assert p["chosen"][0]["content"] in answer["no_doc"] and p["chosen_score"] > p["rejected_score"]
        else:
            assert p["chosen"][0]["content"] == answer["reference"] and p["chosen_score"] is None
    for group in by_question.values():
        assert [p["pair_index"] for p in group] == list(range(len(group))) and len(group) <= 2
        if strategy == "reference-vs-worst":  # the least agreeing samples first
            assert [p["rejected_score"] for p in group] == sorted(p["rejected_score"] for p in group)


def test_calibration_sweep_counts_and_precision(answered):
    data, refs = answered
    cfg = _cfg(data)
    store, ref = _score(cfg, refs)
    scores = store.read_rows(ref)
    answers = {a["answer_id"]: a for a in store.read_rows(refs["answers"])}
    s_l, s_k = sorted({s["s_l"] for s in scores}), sorted({s["s_k"] for s in scores})
    middle = (s_l[1], s_k[len(s_k) // 2])  # drops the lowest S_L; about half the S_K values are below
    result = sweep(cfg.curate, scores, answers, known=[0.0, middle[1]], answerable=[0.0, middle[0]])
    assert len(result.rows) == 4 and result.questions == len(scores)
    truth = {s["score_id"]: truly_unknown(answers[s["answer_id"]]) for s in scores}
    for row in result.rows:
        kept = [s for s in scores if s["s_l"] >= row["answerable_threshold"]]
        flagged = [s for s in kept if s["s_k"] < row["known_threshold"]]
        assert (row["answerable"], row["flagged"]) == (len(kept), len(flagged)), row
        assert row["sft"] == sum(s["split"] == "train" for s in flagged), "each flagged train question: one SFT row"
        if flagged:
            assert row["precision"] == pytest.approx(sum(truth[s["score_id"]] for s in flagged) / len(flagged))
        else:
            assert row["precision"] != row["precision"] and row["pairs"] == 0, "nothing flagged: NaN, no pairs"
    by = {(r["answerable_threshold"], r["known_threshold"]): r for r in result.rows}
    train = sum(s["split"] == "train" for s in scores)
    assert by[(0.0, 0.0)]["flagged"] == 0 and by[(0.0, 0.0)]["answerable"] == len(scores)
    assert 0 < by[middle]["sft"] < train and by[middle]["answerable"] < len(scores), "the thresholds decide"
    assert auroc([0.1, 0.9, 0.8], [False, True, True]) == 1.0 and auroc([0.5, 0.5], [True, False]) == 0.5


def test_export_loads_with_datasets_and_carries_a_card(answered, tmp_path):
    data, refs = answered
    cfg = _cfg(data)
    store, score_ref = _score(cfg, refs)
    ref = curate.run(cfg, curate.plan(cfg, score_ref, refs["answers"]), store, RunInfo(), log=lambda _: None)
    counts = export_dataset(store, ref, tmp_path / "out")
    loaded = datasets.load_from_disk(str(tmp_path / "out"))
    assert set(loaded) == {"dpo", "sft"} and counts == {"dpo": loaded["dpo"].num_rows, "sft": loaded["sft"].num_rows}
    assert counts == {"dpo": len(store.read_rows(ref)), "sft": len(store.read_rows(ref, "sft"))} and all(
        counts.values()
    )
    assert {"prompt", "chosen", "rejected", "pair_id"} <= set(loaded["dpo"].column_names)
    assert loaded["dpo"][0]["chosen"][0]["role"] == "assistant" and "messages" in loaded["sft"].column_names
    card = (tmp_path / "out" / "README.md").read_text()
    assert "known_threshold" in card and "embedding-agreement" in card and ref.key in card
    assert "answer_without_document" in card and "| policy |" in card
    with pytest.raises(ConfigError, match="not empty"):
        export_dataset(store, ref, tmp_path / "out")


def test_cli_calibrate_and_export(answered, tmp_path):
    data, refs = answered
    cfg = _cfg(data)
    store, score_ref = _score(cfg, refs)
    ref = curate.run(cfg, curate.plan(cfg, score_ref, refs["answers"]), store, RunInfo(), log=lambda _: None)
    root = ["--root", cfg.artifact_root]
    out = CliRunner().invoke(app, ["calibrate", *root, "--score", score_ref.key, "--known", "0.2,0.9"])
    assert out.exit_code == 0, out.output
    assert "threshold sweep" in out.output and "AUROC" in out.output
    assert f"{len(store.read_rows(score_ref))} questions" in out.output
    out = CliRunner().invoke(app, ["calibrate", *root, "--score", score_ref.key, "--known", "0.2,1.5"])
    assert isinstance(out.exception, ConfigError) and "known_threshold" in str(out.exception)
    out = CliRunner().invoke(app, ["export-dataset", str(tmp_path / "ds"), "--curate", ref.key, *root])
    assert out.exit_code == 0, out.output
    loaded = datasets.load_from_disk(str(tmp_path / "ds"))
    sft, pairs = store.read_rows(ref, "sft"), store.read_rows(ref)
    assert sft and sorted(loaded["sft"]["sft_id"]) == sorted(r["sft_id"] for r in sft)
    assert sorted(loaded["dpo"]["pair_id"]) == sorted(p["pair_id"] for p in pairs)
