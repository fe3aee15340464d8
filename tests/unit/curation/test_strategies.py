"""The curate strategies (issue 15) on hand-made scores: each picks the right samples, with its reasons, and keys
say which strategy made the data while the default's keys stay as they were."""

from __future__ import annotations

from typing import get_args

import pytest
from pydantic import ValidationError

from selftrain_core.config import RunConfig
from selftrain_core.config.base import result_settings
from selftrain_core.stages.curate.config import CurateConfig, CurateStrategy
from selftrain_core.stages.curate.stage import curate_rows, keyed_settings
from selftrain_core.stages.curate.strategies import STRATEGIES

SAMPLES = ("Paris is the capital of France.", "Lyon.", "It is Paris.", "Marseille is the capital.", "Paris.")
SCORES = (0.95, 0.10, 0.85, 0.05, 0.95)  # agreement of each no-document sample with the reference
EXPLICIT = (  # explicitation samples (inner-knowledge): knowledge, then answer
    "Knowledge: Paris is the capital of France.\nAnswer: Paris.",
    "Knowledge: Lyon is a large French city.\nAnswer: Lyon.",
    "Knowledge: France's government sits in Paris.\nAnswer: The capital is Paris.",
    "I am not sure.",
    "Knowledge: Paris is in France.\nAnswer: Marseille.",
)
SUPPORT = (0.90, 0.20, 0.70, 0.00, 0.95)  # the document's support of each sample's knowledge
EXPLICIT_SCORES = (0.90, 0.10, 0.85, 0.00, 0.30)  # each sample's answer's agreement with the reference


def cfg(strategy: str, **curate) -> RunConfig:
    scorer = {"scorer": "self-reward"} if strategy == "self-rewarding" and curate.pop("judged", True) else {}
    explicit = strategy == "inner-knowledge" and curate.pop("explicit", True)
    return RunConfig(
        curate={"strategy": strategy, "answerable_threshold": 0.5, "known_threshold": 0.8, **curate},
        score=scorer,
        answers={"explicitation": explicit},
    )


def score(s_l=0.9, s_k=0.4, scores=SCORES, support=SUPPORT, explicit_scores=EXPLICIT_SCORES) -> dict:
    return {
        "score_id": "score-1",
        "question_id": "q-1",
        "s_l": s_l,
        "s_k": s_k,
        "no_doc_scores": list(scores),
        "explicit_support": list(support),
        "explicit_scores": list(explicit_scores),
    }


def answer(no_doc=SAMPLES, reference="The capital of France is Paris.", explicit=EXPLICIT) -> dict:
    return {
        "answer_id": "ans-1",
        "question": "What is the capital of France?",
        "reference": reference,
        "no_doc": list(no_doc),
        "explicit": list(explicit),
    }


def contents(rows: list[dict], column: str = "messages") -> list[str]:
    return [r[column][-1]["content"] for r in rows]


def test_every_strategy_in_the_form_has_an_implementation():
    assert set(get_args(CurateStrategy)) == set(STRATEGIES)


def test_rejection_sampling_trains_on_the_accepted_own_samples_most_agreeing_first():
    rows = curate_rows(cfg("rejection-sampling", samples_per_question=2), "k", score(), answer())
    assert contents(rows["sft"]) == ["Paris is the capital of France.", "Paris."], "ties keep the sample order"
    assert [r["sample_index"] for r in rows["sft"]] == [0, 4] and all(r["answer_id"] == "ans-1" for r in rows["sft"])
    assert len({r["sft_id"] for r in rows["sft"]}) == 2 and not rows["data"] and not rows["rejected"]
    assert {r["label"] for r in rows["sft"]} == {"unknown"}
    one = curate_rows(cfg("rejection-sampling"), "k", score(), answer())
    assert contents(one["sft"]) == ["Paris is the capital of France."]


def test_rejection_sampling_keeps_every_sample_it_does_not_train_on_with_its_reason():
    texts = ("Paris is the capital of France.", "Lyon.", " ", "paris is the  capital of France.", "Paris.")
    rows = curate_rows(cfg("rejection-sampling"), "k", score(scores=(0.95, 0.10, 0.99, 0.99, 0.90)), answer(texts))
    assert [r["sample_index"] for r in rows["sft"]] == [0]
    dropped = [(r["sample_index"], r["reason"]) for r in rows["rejected_samples"]]
    assert dropped == [
        (1, "below_accept_threshold"),
        (2, "empty_sample"),
        (3, "duplicate_sample"),  # sample 0 said it first
        (4, "over_samples_per_question"),  # accepted, but samples_per_question is 1
    ]
    assert rows["rejected_samples"][1]["text"] == " " and rows["rejected_samples"][0]["score"] == 0.10
    assert {(r["answer_id"], r["question_id"], r["score_id"]) for r in rows["rejected_samples"]} == {
        ("ans-1", "q-1", "score-1")
    }
    none = curate_rows(cfg("rejection-sampling"), "k", score(scores=(0.1, 0.2, 0.3, 0.1, 0.79)), answer())
    assert none["rejected"][0]["reason"] == "no_sample_accepted" and len(none["rejected_samples"]) == 5
    gated = curate_rows(cfg("rejection-sampling"), "k", score(s_l=0.2), answer())
    assert gated["rejected"][0]["reason"] == "unanswerable" and not gated["rejected_samples"], "the question says why"


def test_a_pair_names_the_samples_it_was_made_of():
    rows = curate_rows(cfg("confident-preference", pairs_per_question=2), "k", score(), answer())
    assert [(r["chosen_sample_index"], r["rejected_sample_index"]) for r in rows["data"]] == [(0, 3), (0, 1)]
    (reference_pair,) = curate_rows(cfg("knowledge-detection"), "k", score(), answer())["data"]
    assert reference_pair["chosen_sample_index"] is None, "the grounded reference is no sample"
    assert SAMPLES[reference_pair["rejected_sample_index"]] == reference_pair["rejected"][-1]["content"]


def test_rejection_sampling_trains_a_known_question_too_and_drops_one_with_no_accepted_sample():
    known = curate_rows(cfg("rejection-sampling"), "k", score(s_k=0.95), answer())
    assert known["sft"] and known["sft"][0]["label"] == "known", (
        "no knowledge filter: ReST-EM trains what it gets right"
    )
    wrong = curate_rows(cfg("rejection-sampling"), "k", score(scores=(0.1, 0.2, 0.3, 0.1, 0.79)), answer())
    assert not wrong["sft"] and wrong["rejected"][0]["reason"] == "no_sample_accepted"


def test_confident_preference_pairs_the_most_agreeing_sample_against_the_least():
    rows = curate_rows(cfg("confident-preference", pairs_per_question=2), "k", score(), answer())
    assert contents(rows["data"], "chosen") == ["Paris is the capital of France."] * 2
    assert contents(rows["data"], "rejected") == ["Marseille is the capital.", "Lyon."]
    assert [r["rejected_score"] for r in rows["data"]] == [0.05, 0.10]
    assert {r["strategy"] for r in rows["data"]} == {"confident-preference"} and not rows["sft"]


@pytest.mark.parametrize(
    ("scores", "reason"),
    [((0.7, 0.1, 0.5, 0.2, 0.6), "no_confident_sample"), ((0.9, 0.5, 0.85, 0.6, 0.9), "no_contradicting_sample")],
)
def test_confident_preference_says_why_it_made_no_pair(scores, reason):
    rows = curate_rows(cfg("confident-preference"), "k", score(scores=scores), answer())
    assert not rows["data"] and rows["rejected"][0]["reason"] == reason


def test_sft_references_trains_every_answerable_question_on_its_reference():
    for s_k in (0.1, 0.99):
        rows = curate_rows(cfg("sft-references"), "k", score(s_k=s_k), answer())
        assert contents(rows["sft"]) == ["The capital of France is Paris."] and not rows["data"]
        assert rows["sft"][0]["sample_index"] is None and not rows["rejected"]
    unanswerable = curate_rows(cfg("sft-references"), "k", score(s_l=0.2), answer())
    assert not unanswerable["sft"] and unanswerable["rejected"][0]["reason"] == "unanswerable"


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_every_strategy_drops_an_empty_reference_and_a_non_finite_score(strategy):
    assert curate_rows(cfg(strategy), "k", score(), answer(reference=" "))["rejected"][0]["reason"] == (
        "empty_reference"
    )
    nan = score(scores=(float("nan"), *SCORES[1:]))
    rows = curate_rows(cfg(strategy), "k", nan, answer())
    assert not rows["data"] and not rows["sft"] and rows["rejected"][0]["reason"] == "non_finite_score"


def test_a_strategy_other_than_the_default_keys_all_its_settings():
    default = keyed_settings(CurateConfig())
    assert default == result_settings(CurateConfig()), "the default's keys did not move"
    assert "strategy" not in default and "accept_threshold" not in default
    chosen = keyed_settings(CurateConfig(strategy="rejection-sampling"))
    assert chosen["strategy"] == "rejection-sampling" and chosen["accept_threshold"] == 0.8, "its defaults too"
    assert chosen["samples_per_question"] == 1 and chosen["support_threshold"] == 0.6
    assert keyed_settings(CurateConfig(strategy="rejection-sampling", accept_threshold=0.7))["accept_threshold"] == 0.7
    assert keyed_settings(CurateConfig(accept_threshold=0.7))["accept_threshold"] == 0.7, "set: keyed"


def test_a_contradiction_threshold_at_or_above_acceptance_is_refused():
    with pytest.raises(ValidationError, match="contradict_threshold must be below curate.accept_threshold"):
        CurateConfig(accept_threshold=0.5, contradict_threshold=0.5)


def test_self_rewarding_pairs_the_best_graded_sample_against_the_worst():
    graded = cfg("self-rewarding", min_score_gap=0.3)
    rows = curate_rows(graded, "k", score(scores=(0.8, 0.2, 0.6, 0.0, 1.0)), answer())
    (pair,) = rows["data"]
    assert (pair["chosen"][-1]["content"], pair["rejected"][-1]["content"]) == ("Paris.", "Marseille is the capital.")
    assert pair["strategy"] == "self-rewarding" and (pair["chosen_score"], pair["rejected_score"]) == (1.0, 0.0)
    flat = curate_rows(graded, "k", score(scores=(0.6, 0.6, 0.6, 0.4, 0.6)), answer())
    assert not flat["data"] and flat["rejected"][0]["reason"] == "no_score_gap"


def test_self_rewarding_without_its_judge_is_refused_naming_the_setting():
    with pytest.raises(ValidationError, match=r"curate.strategy=self-rewarding .* set score.scorer=self-reward"):
        cfg("self-rewarding", judged=False)
    assert RunConfig(curate={"strategy": "self-rewarding"}, score={"scorer": "self-reward"}).curate.strategy
