"""self-reward (Yuan et al. 2024): the policy's rubric grades, read robustly, kept with the judge's raw replies."""

from __future__ import annotations

import pytest

from selftrain_core.backends.base import ChatResult, Completion
from selftrain_core.scorers import scorer_class
from selftrain_core.scorers.base import ScoreInput
from selftrain_core.scorers.self_reward import SelfReward, read_points

ITEM = ScoreInput(
    "What is the capital of France?",
    "Paris is the capital of France.",
    ["Paris is the capital of France.", "Lyon is the capital.", ""],
)


@pytest.mark.parametrize(
    ("reply", "points"),
    [
        ("It is right. Score: 5", 5),
        ("**Score**: 4/5", 4),
        ("The response earns 2 points for relevance... Score: 3", 3),
        ("I give it 4 out of 5.", 4),
        ("Relevant and correct: 3 points.", 3),
        ("score is 1", 1),
        ("Score: 0", 0),
        ("Score: 7", None),  # not on the scale
        ("The year 1924 is right.", None),
        ("", None),
        ("Score: 4.5", None),  # not a whole number of points
    ],
)
def test_the_judges_points_are_read_from_the_last_score_statement(reply, points):
    assert read_points(reply) == points


class Judge:
    """Replies by the response it is asked to grade: full marks for Paris, one point for Lyon."""

    def __init__(self):
        self.prompts = []

    def generate(self, requests):
        self.prompts.extend(r.messages for r in requests)
        replies = []
        for r in requests:
            text = r.messages[-1]["content"]
            reply = "Correct. Score: 5" if "Response: Paris" in text else "Wrong city. Score: 1"
            replies.append(ChatResult(r.request_id, [Completion(reply)]))
        return replies


def test_grades_become_scores_with_the_raw_replies_and_empty_samples_are_not_sent():
    judge = Judge()
    (result,) = SelfReward(judge).score([ITEM])
    assert result.per_sample == [1.0, 0.2, 0.0] and result.score == pytest.approx(0.4)
    assert result.details["points"] == [5, 1, None]
    assert result.details["replies"] == ["Correct. Score: 5", "Wrong city. Score: 1", ""]
    assert len(judge.prompts) == 2, "the empty sample is not graded"
    assert "Reference answer: Paris is the capital of France." in judge.prompts[0][0]["content"]
    assert "unparsed_grade" not in result.flags


def test_an_unreadable_grade_decides_nothing_and_is_flagged():
    class Mumbler:
        def generate(self, requests):
            return [ChatResult(r.request_id, [Completion("hmm")]) for r in requests]

    (result,) = SelfReward(Mumbler()).score([ITEM])
    assert result.per_sample[:2] == [0.5, 0.5] and "unparsed_grade" in result.flags


def test_the_scorer_is_registered_and_uses_the_policy():
    assert scorer_class("self-reward") is SelfReward and SelfReward.roles(None) == ("policy",)


def test_a_configured_judge_grades_instead_of_the_policy_and_enters_the_key(
    tiny_lm, tiny_embedder, corpus_file, tmp_path
):
    from selftrain_core.config.loading import build_run_config
    from selftrain_core.errors import SelftrainError
    from selftrain_core.models.precision import inference_dtype
    from selftrain_core.runs.preflight import check_run_supported
    from selftrain_core.stages.score import stage as score
    from selftrain_core.stages.score.engine import open_configured_scorer, scorer_models
    from selftrain_core.store import ArtifactRef
    from tests.conftest import tiny_config_data

    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts")
    own = build_run_config({**data, "score": {"scorer": "self-reward"}})
    judged = build_run_config({**data, "score": {"scorer": "self-reward", "reward_judge": str(tiny_lm)}})
    assert set(scorer_models(own)) == {"policy"} and set(scorer_models(judged)) == {"judge"}
    answers = ArtifactRef(stage="answers", key="a" * 20, uri="file:///none")
    plans = score.plan(own, answers), score.plan(judged, answers)
    assert plans[0].key != plans[1].key, "which model grades changes the scores: the key"
    assert [m["role"] for m in plans[1].models] == ["judge"]
    other = "float32" if inference_dtype(judged.model) == "bfloat16" else "bfloat16"  # auto resolves by the CPU
    half = build_run_config({**data, "model": {**data["model"], "dtype": other}, "score": judged.score.model_dump()})
    assert score.plan(half, answers).key != plans[1].key, "the judge grades in the policy's dtype: keyed"
    check_run_supported(judged)
    scorer = open_configured_scorer(judged)
    assert scorer.backend is not None and "policy" not in scorer_models(judged)
    (result,) = scorer.score([ITEM])
    assert len(result.details["replies"]) == 3 and all(isinstance(r, str) for r in result.details["replies"])
    wrong = build_run_config({**data, "score": {"scorer": "self-reward", "reward_judge": "no-such-judge"}})
    with pytest.raises(SelftrainError, match=r"^score.reward_judge: .*no-such-judge"):
        check_run_supported(wrong)
