"""Each method's own rule, on values we can compute by hand."""

import math

import numpy as np
import pytest
import torch

from selftrain_core.errors import StageInputError
from selftrain_core.scorers.base import ScoreInput
from selftrain_core.scorers.bsdetector import BSDetector, parse_grade
from selftrain_core.scorers.consistency import EmbeddingConsistency
from selftrain_core.scorers.predictive_entropy import PredictiveEntropy
from selftrain_core.scorers.selfcheck_prompt import SelfCheckPrompt, read_yes_no
from selftrain_core.scorers.semantic_entropy import SemanticEntropy, clusters_from, sample_weights, semantic_entropy
from tests.unit.scorers.fakes import ScriptedBackend

ITEM = ScoreInput(
    "What is the capital of France?",
    "Paris is the capital of France. It lies on the Seine.",
    ["Paris is the capital of France.", "Lyon is the capital.", ""],
    [[-0.1, -0.3], [-2.0], []],
)


def test_selfcheck_nli_is_one_minus_mean_contradiction(open_scorer):
    scorer = open_scorer("selfcheck-nli")
    for contradiction_logit, expected in ((20.0, 0.0), (-20.0, 1.0)):
        with torch.no_grad():
            scorer.nli.model.classifier.bias[:] = 0.0
            scorer.nli.model.classifier.bias[scorer.nli.labels.contradiction] = contradiction_logit
        (res,) = scorer.score([ITEM])
        assert res.per_sample[:2] == pytest.approx([expected, expected], abs=1e-3)
        assert res.per_sample[2] == 0.0 and res.details["sentences"] == 2
    with torch.no_grad():
        scorer.nli.model.classifier.bias[:] = 0.0


def test_selfcheck_prompt_reads_yes_no_without_logprobs():
    assert read_yes_no("Yes, it is.") == 1.0 and read_yes_no("No.") == 0.0 and read_yes_no("Maybe") == 0.5
    backend = ScriptedBackend("No, it is not supported.")
    (res,) = SelfCheckPrompt(backend).score([ITEM])
    assert res.per_sample == [0.0, 0.0, 0.0] and len(backend.prompts) == 4  # 2 sentences x 2 non-empty samples
    assert "Sentence: It lies on the Seine." in backend.prompts[2][0]["content"]


def test_selfcheck_prompt_uses_answer_token_probabilities(models):
    backend = models.policy
    prompts = [[{"role": "user", "content": t}] for t in ("Is Paris in France?", "Who wrote the book? Yes or no.")]
    batched = backend.option_logprobs(prompts, ["Yes", "No"])
    single = [backend.option_logprobs([p], ["Yes", "No"])[0] for p in prompts]
    np.testing.assert_allclose(batched, single, atol=1e-4)
    (res,) = SelfCheckPrompt(backend).score([ITEM])
    assert 0.0 < res.per_sample[0] < 1.0 and res.per_sample[2] == 0.0


@pytest.mark.parametrize(
    ("reply", "grade"),
    [
        ("A", "correct"),
        ("(B)", "incorrect"),
        ("c) I am not sure", "not_sure"),
        ("Explanation: the passage says so. Answer: A", "correct"),
        ("The answer is (B) because", "incorrect"),
        ("The proposed answer is incorrect.", "incorrect"),
        ("It is not correct", "incorrect"),
        ("Correct!", "correct"),
        ("I don't know", "not_sure"),
        ("Absolutely", None),
        ("", None),
    ],
)
def test_parse_grade(reply, grade):
    assert parse_grade(reply) == grade


def test_bsdetector_combines_observed_consistency_and_reflection(models):
    consistency = EmbeddingConsistency(models.embedder)
    item = ScoreInput("q?", "Paris is the capital.", ["Paris is the capital.", "Paris is the capital."])
    for reply, reflection in (("A", 1.0), ("B", 0.0), ("C", 0.5), ("gibberish", 0.5)):
        backend = ScriptedBackend(reply)
        (res,) = BSDetector(consistency, backend, beta=0.7).score([item])
        assert res.score == pytest.approx(0.7 * 1.0 + 0.3 * reflection, abs=1e-4)
        assert ("unreadable_grade" in res.flags) == (reply == "gibberish")
    backend = ScriptedBackend("A")
    BSDetector(consistency, backend).score([ScoreInput("q?", "Paris.", ["Paris."], document="Paris is in France.")])
    assert "Passage: Paris is in France." in backend.prompts[0][0]["content"]


def test_semantic_entropy_clusters_and_weights():
    same = {(0, 1): True, (0, 2): False, (2, 3): True, (0, 3): False}
    assert clusters_from(same, ["a", "a2", "b", "b2", ""]) == [0, 0, 1, 1, 2]
    assert semantic_entropy([0, 0, 1, 1], np.ones(4)) == pytest.approx(math.log(2))
    assert semantic_entropy([0, 0, 0], np.ones(3)) == 0.0
    weights = sample_weights(["a", "b", ""], [[-0.1, -0.3], [-2.0], []])
    assert weights[:2] == pytest.approx([math.exp(-0.2), math.exp(-2.0)])
    assert weights[2] == pytest.approx(weights[:2].mean())
    assert list(sample_weights(["a", "b"], [])) == [1.0, 1.0]  # counts without logprobs


def test_semantic_entropy_score_mapping(models):
    one_meaning = ScoreInput("q", "Paris.", ["Paris is the capital.", "Paris is the capital."], [[-0.1], [-0.1]])
    all_different = ScoreInput("q", "Paris.", ["Paris is the capital.", "The quick brown fox."], [[-0.1], [-0.1]])
    strict = SemanticEntropy(EmbeddingConsistency(models.embedder, threshold=1.01))
    loose = SemanticEntropy(EmbeddingConsistency(models.embedder, threshold=0.0))
    assert strict.score([all_different])[0].score == pytest.approx(0.0, abs=1e-6)
    assert strict.score([all_different])[0].details["clusters"] == 2
    assert loose.score([one_meaning])[0].score == pytest.approx(1.0)


def test_predictive_entropy_is_geometric_mean_token_probability():
    (res,) = PredictiveEntropy().score([ITEM])
    assert res.per_sample == pytest.approx([math.exp(-0.2), math.exp(-2.0), 0.0], abs=1e-6)
    assert res.details["predictive_entropy"] == pytest.approx((0.2 + 2.0) / 2)
    with pytest.raises(StageInputError, match="logprobs"):
        PredictiveEntropy().score([ScoreInput("q", "a", ["b"], [])])
