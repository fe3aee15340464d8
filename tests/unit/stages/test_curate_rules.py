import pytest
from pydantic import ValidationError

from selftrain_core.config import RunConfig
from selftrain_core.stages.curate.config import CurateConfig
from selftrain_core.stages.curate.stage import curate_rows

CFG = RunConfig(curate={"answerable_threshold": 0.5, "known_threshold": 0.8})


def _cfg(**curate):
    return RunConfig(curate={"answerable_threshold": 0.5, "known_threshold": 0.8, **curate})


def _score(s_l, s_k, no_doc_scores=(0.9, 0.1, 0.4)):
    return {"score_id": "score-1", "question_id": "q-1", "s_l": s_l, "s_k": s_k, "no_doc_scores": list(no_doc_scores)}


def _answer(reference="Paris is the capital.", no_doc=("Paris.", "Lyon is the capital.", "Nice.")):
    return {
        "answer_id": "ans-1",
        "question": "What is the capital of France?",
        "reference": reference,
        "no_doc": list(no_doc),
    }


def _reason(cfg, score, answer):
    rows = curate_rows(cfg, "k", score, answer)
    assert not rows["data"]
    return rows["rejected"][0]["reason"]


def test_unknown_question_becomes_a_pair_against_the_least_agreeing_sample():
    rows = curate_rows(CFG, "key", _score(0.9, 0.3), _answer())
    (row,) = rows["data"]
    assert row["label"] == "unknown" and row["strategy"] == "reference-vs-worst" and not rows["rejected"]
    assert row["prompt"] == [
        {
            "role": "user",
            "content": "Answer the question in one or two sentences.\n\nQuestion: What is the capital of France?",
        }
    ]
    assert row["chosen"] == [{"role": "assistant", "content": "Paris is the capital."}]
    assert row["rejected"] == [{"role": "assistant", "content": "Lyon is the capital."}]
    assert row["rejected_score"] == 0.1 and row["chosen_score"] is None and row["pair_id"].startswith("pair-")
    (sft,) = rows["sft"]
    assert sft["messages"] == row["prompt"] + row["chosen"]


def test_rejection_reasons():
    assert _reason(CFG, _score(0.3, 0.3), _answer()) == "unanswerable"
    assert _reason(CFG, _score(0.9, 0.85), _answer()) == "known"
    assert _reason(CFG, _score(0.9, 0.3), _answer(reference="  ")) == "empty_reference"
    empty = _answer(no_doc=("", " ", ""))
    assert _reason(CFG, _score(0.9, 0.3, (0.0, 0.0, 0.0)), empty) == "empty_samples"
    rows = curate_rows(CFG, "k", _score(0.9, 0.3, (0.0, 0.5, 0.6)), _answer(no_doc=("", "Lyon.", "Nice.")))
    assert rows["data"][0]["rejected"][0]["content"] == "Lyon."
    same = _answer(no_doc=("paris is the capital. ", "paris IS the capital.", "Paris is  the capital."))
    assert _reason(CFG, _score(0.9, 0.3), same) == "chosen_equals_rejected"
    assert not curate_rows(CFG, "k", _score(0.3, 0.3), _answer())["sft"]
    assert curate_rows(CFG, "k", _score(0.9, 0.3), same)["sft"], "an unknown question keeps its SFT row"


def test_several_pairs_per_question_take_distinct_worst_samples():
    answer = _answer(no_doc=("Paris.", "Lyon is the capital.", "Nice.", "lyon is the capital."))
    rows = curate_rows(_cfg(pairs_per_question=2), "k", _score(0.9, 0.3, (0.9, 0.1, 0.4, 0.05)), answer)
    assert [r["rejected"][0]["content"] for r in rows["data"]] == ["Lyon is the capital.", "Nice."]
    assert len({r["pair_id"] for r in rows["data"]}) == 2 and len(rows["sft"]) == 1


def test_no_document_strategy_pairs_best_against_worst_sample():
    cfg = _cfg(pair_strategy="no-document", pairs_per_question=2)
    answer = _answer(no_doc=("Paris.", "Lyon is the capital.", "Nice.", "Rome."))
    rows = curate_rows(cfg, "k", _score(0.9, 0.3, (0.9, 0.1, 0.4, 0.6)), answer)
    got = [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows["data"]]
    assert got == [("Paris.", "Lyon is the capital."), ("Rome.", "Nice.")]
    assert rows["data"][0]["chosen_score"] == 0.9
    one = _answer(no_doc=("Paris.", "", "paris."))
    assert _reason(cfg, _score(0.9, 0.3, (0.9, 0.0, 0.9)), one) == "too_few_samples"
    flat = _cfg(pair_strategy="no-document", min_score_gap=0.2)
    assert _reason(flat, _score(0.9, 0.3, (0.5, 0.4, 0.45)), _answer()) == "no_score_gap"


@pytest.mark.parametrize("strategy", ["reference-vs-worst", "no-document"])
def test_length_gap_normalisation_skips_far_longer_or_shorter_candidates(strategy):
    long = "Lyon is the capital city of France and it has been so for a very long time indeed."
    answer = _answer(no_doc=("Paris is a city.", long, "Nice is it."))
    cfg = _cfg(pair_strategy=strategy, max_length_ratio=2.0)
    rows = curate_rows(cfg, "k", _score(0.9, 0.3, (0.9, 0.0, 0.4)), answer)
    assert all(long not in (r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows["data"])
    assert rows["data"][0]["rejected"][0]["content"] == "Nice is it."
    only_long = _answer(no_doc=(long,))
    assert _reason(_cfg(max_length_ratio=2.0), _score(0.9, 0.3, (0.0,)), only_long) == "length_gap"


def test_default_config_keeps_the_knowledge_filter_and_no_budget():
    assert CurateConfig().knowledge_filter is True and CurateConfig().max_questions is None
    with pytest.raises(ValidationError):
        _cfg(max_questions=0)


def test_without_knowledge_filter_a_known_question_is_trained_and_still_labelled_known():
    cfg = _cfg(knowledge_filter=False)
    rows = curate_rows(cfg, "k", _score(0.9, 0.85), _answer())
    (pair,) = rows["data"]
    (as_unknown,) = curate_rows(cfg, "k", _score(0.9, 0.3), _answer())["data"]
    assert pair["label"] == "known" and pair["s_k"] == 0.85
    assert {k: v for k, v in pair.items() if k not in ("label", "s_k")} == {
        k: v for k, v in as_unknown.items() if k not in ("label", "s_k")
    }, "a known question is paired by the same strategy as an unknown one"
    assert len(rows["sft"]) == 1 and not rows["rejected"]
    assert _reason(cfg, _score(0.3, 0.85), _answer()) == "unanswerable"
    assert _reason(cfg, _score(0.9, 0.85), _answer(reference=" ")) == "empty_reference"
    assert _reason(cfg, _score(0.3, 0.3), _answer()) == "unanswerable"
