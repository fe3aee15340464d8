"""A NaN or infinite score decides nothing: the question is flagged with a reason, never trained on."""

import math

import pyarrow as pa
import pytest

from selftrain_core.config import RunConfig
from selftrain_core.errors import ConfigError
from selftrain_core.stages.base import RunInfo
from selftrain_core.stages.curate import stage as curate
from selftrain_core.stages.curate.calibration import sweep
from selftrain_core.store import ArtifactStore
from selftrain_core.store.writer import ArtifactWriter

NAN, INF = math.nan, math.inf


def _cfg(**curate_settings):
    return RunConfig(curate={"answerable_threshold": 0.5, "known_threshold": 0.8, **curate_settings})


def _score(i, s_l=0.9, s_k=0.3, no_doc_scores=(0.9, 0.1)):
    return {
        "score_id": f"score-{i}",
        "answer_id": f"ans-{i}",
        "question_id": f"q-{i}",
        "split": "train",
        "s_l": s_l,
        "s_k": s_k,
        "no_doc_scores": list(no_doc_scores),
    }


def _answer(i):
    return {
        "answer_id": f"ans-{i}",
        "question": f"Question {i}?",
        "reference": "Paris is the capital.",
        "no_doc": ["Paris.", "Lyon is the capital."],
    }


def _rows(cfg, score):
    return curate.curate_rows(cfg, "k", score, _answer(0))


@pytest.mark.parametrize("strategy", ["reference-vs-worst", "no-document"])
@pytest.mark.parametrize("knowledge_filter", [True, False])
@pytest.mark.parametrize("s_k", [NAN, INF, -INF])
def test_a_non_finite_knowledge_score_is_flagged_unscored_and_never_trained(s_k, knowledge_filter, strategy):
    cfg = _cfg(knowledge_filter=knowledge_filter, pair_strategy=strategy)
    assert _rows(cfg, _score(0))["data"], "the same question with a finite S_K is trained"
    rows = _rows(cfg, _score(0, s_k=s_k))
    assert not rows["data"] and not rows["sft"]
    (rejected,) = rows["rejected"]
    assert rejected["reason"] == "non_finite_score" and rejected["label"] == "unscored"


@pytest.mark.parametrize(
    "score",
    [
        _score(0, s_l=NAN),
        _score(0, s_l=INF),
        _score(0, no_doc_scores=(0.9, NAN)),
        _score(0, no_doc_scores=(INF, 0.1)),
    ],
    ids=["s_l-nan", "s_l-inf", "sample-nan", "sample-inf"],
)
def test_any_other_non_finite_score_used_for_a_decision_is_flagged_too(score):
    rows = _rows(_cfg(knowledge_filter=False), score)
    assert not rows["data"] and not rows["sft"]
    (rejected,) = rows["rejected"]
    assert rejected["reason"] == "non_finite_score" and rejected["label"] == "unknown", "S_K is finite: its label"


def _write(store, stage, rows):
    writer = ArtifactWriter(store, stage, "k-" + stage)
    writer.write_table("data", pa.Table.from_pylist(rows))
    return writer.commit({})


def test_the_stage_counts_non_finite_scores_as_a_drop_reason_and_unscored_as_a_label(tmp_path):
    scores = [_score(0), _score(1, s_k=0.9), _score(2, s_k=NAN), _score(3, s_l=NAN), _score(4, s_k=INF)]
    store = ArtifactStore(str(tmp_path))
    scores_ref = _write(store, "score", scores)
    answers_ref = _write(store, "answers", [_answer(i) for i in range(len(scores))])
    for settings in ({}, {"knowledge_filter": False, "max_questions": 1}):
        cfg = _cfg(**settings)
        ref = curate.run(cfg, curate.plan(cfg, scores_ref, answers_ref), store, RunInfo(), log=lambda _: None)
        manifest = store.manifest("curate", ref.key)
        trained = {r["question_id"] for r in store.read_rows(ref) + store.read_rows(ref, "sft")}
        rejected = {r["question_id"]: r for r in store.read_rows(ref, "rejected")}
        assert trained and not trained & {"q-2", "q-3", "q-4"}
        assert {q: rejected[q]["reason"] for q in ("q-2", "q-3", "q-4")} == dict.fromkeys(
            ("q-2", "q-3", "q-4"), "non_finite_score"
        )
        assert manifest["drops"]["non_finite_score"] == 3
        assert manifest["labels"]["unscored"] == 2 and sum(manifest["labels"].values()) == len(scores)
    assert manifest["counts"]["eligible"] == 2, "a flagged question never competes for the budget"


def test_calibration_leaves_non_finite_scores_out_and_sweeps_only_valid_thresholds():
    scores = [_score(0, s_k=0.3), _score(1, s_k=0.9), _score(2, s_k=NAN), _score(3, s_l=INF)]
    answers = {a["answer_id"]: a for a in (_answer(i) for i in range(4))}
    result = sweep(_cfg().curate, scores, answers, known=[0.5], answerable=[0.5])
    (row,) = result.rows
    assert result.questions == 2 and row["answerable"] == 2 and row["flagged"] == 1 and row["sft"] == 1
    with pytest.raises(ConfigError, match="known_threshold"):
        sweep(_cfg().curate, scores, answers, known=[2.0])
    with pytest.raises(ConfigError, match="answerable_threshold"):
        sweep(_cfg().curate, scores, answers, known=[0.5], answerable=[NAN])
