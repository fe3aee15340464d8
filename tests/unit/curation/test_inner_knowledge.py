"""Inner-knowledge explicitation (SKE-Learn) on hand-made rows: how a sample splits into knowledge and answer,
how the document's support is measured, and which samples the strategy trains on and prefers, with its reasons."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from selftrain_core.config import RunConfig
from selftrain_core.config.base import result_settings
from selftrain_core.models.resolve import resolve_model
from selftrain_core.scorers.models import ScorerModels
from selftrain_core.stages.answers.config import AnswersConfig
from selftrain_core.stages.answers.explicitation import split_explicitation
from selftrain_core.stages.curate.stage import curate_rows, training_prompt
from selftrain_core.stages.score.support import verify
from tests.unit.curation.test_strategies import EXPLICIT, answer, cfg, contents, score


@pytest.mark.parametrize(
    ("text", "knowledge", "answer_text", "parsed"),
    [
        ("Knowledge: Paris is the capital.\nAnswer: Paris.", "Paris is the capital.", "Paris.", True),
        ("**Knowledge:** A is B.\n**Answer:** B", "A is B.", "B", True),
        ("knowledge: x. answer: first. Answer: second", "x. answer: first.", "second", True),
        ("Paris, I think.", "Paris, I think.", "", False),
        ("Knowledge: only facts.", "only facts.", "", False),
    ],
)
def test_a_sample_splits_at_its_last_answer_marker(text, knowledge, answer_text, parsed):
    assert split_explicitation(text) == type(split_explicitation(text))(knowledge, answer_text, parsed)


def test_inner_knowledge_trains_the_verified_samples_and_prefers_them_over_the_unverified():
    rows = curate_rows(cfg("inner-knowledge", samples_per_question=2, pairs_per_question=2), "k", score(), answer())
    # verified: support >= 0.6 and answer agreement >= 0.8 -> samples 0 (0.90) and 2 (0.70); sample 4 is the best
    # supported (0.95) but its answer contradicts the reference (0.30), so it is not
    assert contents(rows["sft"]) == [EXPLICIT[0], EXPLICIT[2]] and [r["sample_index"] for r in rows["sft"]] == [0, 2]
    assert contents(rows["data"], "chosen") == [EXPLICIT[0]] * 2
    assert contents(rows["data"], "rejected") == [EXPLICIT[3], EXPLICIT[1]], "least supported first"
    assert [r["rejected_score"] for r in rows["data"]] == [0.0, 0.2] and rows["data"][0]["chosen_score"] == 0.9
    assert {r["strategy"] for r in rows["data"]} == {"inner-knowledge"} and not rows["rejected"]
    prompt = rows["data"][0]["prompt"][0]["content"]
    assert "Knowledge:" in prompt and "What is the capital of France?" in prompt, "trained under its own prompt"
    assert rows["sft"][0]["messages"][0]["content"] == prompt


@pytest.mark.parametrize(
    ("support", "agreement", "reason"),
    [
        ((0.5, 0.2, 0.5, 0.0, 0.1), (0.9,) * 5, "no_verified_explicitation"),
        ((0.9, 0.2, 0.7, 0.0, 0.95), (0.1,) * 5, "no_verified_explicitation"),
        ((0.9,) * 5, (0.9,) * 5, "no_unverified_explicitation"),
    ],
)
def test_inner_knowledge_says_why_it_made_no_pair(support, agreement, reason):
    rows = curate_rows(cfg("inner-knowledge"), "k", score(support=support, explicit_scores=agreement), answer())
    assert not rows["data"] and rows["rejected"][0]["reason"] == reason
    assert bool(rows["sft"]) == (reason == "no_unverified_explicitation"), "verified samples are still trained"


def test_inner_knowledge_without_samples_or_with_a_non_finite_support_trains_nothing():
    empty = curate_rows(cfg("inner-knowledge"), "k", score(support=(), explicit_scores=()), answer(explicit=()))
    assert empty["rejected"][0]["reason"] == "no_explicitation"
    nan = curate_rows(cfg("inner-knowledge"), "k", score(support=(float("nan"), 0.2, 0.7, 0.0, 0.9)), answer())
    assert not nan["sft"] and nan["rejected"][0]["reason"] == "non_finite_score"


def test_inner_knowledge_without_explicitation_samples_is_refused_naming_the_setting():
    with pytest.raises(ValidationError, match=r"curate.strategy=inner-knowledge .* set answers.explicitation=true"):
        cfg("inner-knowledge", explicit=False)
    assert training_prompt(cfg("inner-knowledge")) == "explicit_knowledge"
    assert training_prompt(RunConfig()) == "answer_without_document"


def test_explicitation_enters_the_answers_key_only_when_on():
    assert not {k for k in result_settings(AnswersConfig()) if k.startswith("explicitation")}
    on = result_settings(AnswersConfig(explicitation=True, explicitation_max_new_tokens=96))
    assert on["explicitation"] is True and on["explicitation_max_new_tokens"] == 96


def test_support_is_the_least_supported_claim_and_the_answer_is_graded_against_the_reference():
    # the real MiniLM (a random-weight embedder finds every pair of sentences alike)
    models = ScorerModels({"embedder": resolve_model("all-minilm-l6-v2", kind="embedder")}, device="cpu")
    document = "Paris is the capital of France. It lies on the Seine."
    row = {
        "chunk_id": "c1",
        "reference": "Paris.",
        "explicit": [
            "Knowledge: Paris is the capital of France.\nAnswer: Paris.",  # its one claim is a document sentence
            "Knowledge: Paris is the capital of France. Bananas grow on the moon.\nAnswer: Paris.",
            "Answer: Paris.",  # no knowledge written
        ],
    }
    (out,) = verify(models, "embedding", [row], {"c1": document})
    support, agreement = out["explicit_support"], out["explicit_scores"]
    assert support[0] == pytest.approx(1.0, abs=1e-5) and support[1] < 0.5 and support[2] == 0.0
    assert agreement == pytest.approx([1.0, 1.0, 1.0], abs=1e-5), "the answer after the marker, not the knowledge"
    assert all(0.0 <= v <= 1.0 for v in support)


class _ContainsNLI:
    """Entailment = 1 when the document contains the claim, else 0.2; records the pairs it was asked."""

    def __init__(self):
        self.pairs = []

    def entailment(self, pairs):
        self.pairs += pairs
        return np.array([1.0 if claim in premise else 0.2 for premise, claim in pairs])


def test_nli_support_asks_the_document_about_each_claim(tiny_embedder):
    models = ScorerModels({"embedder": resolve_model(str(tiny_embedder), kind="embedder")}, device="cpu")
    models.__dict__["nli"] = nli = _ContainsNLI()  # the cached property, set
    document = "Paris is the capital of France. It lies on the Seine."
    row = {
        "chunk_id": "c1",
        "reference": "Paris.",
        "explicit": [
            "Knowledge: It lies on the Seine.\nAnswer: Paris.",
            "Knowledge: It lies on the Seine. Rome.\nAnswer: Rome.",
        ],
    }
    (out,) = verify(models, "nli", [row], {"c1": document})
    assert out["explicit_support"] == [1.0, 0.2]
    assert nli.pairs == [(document, "It lies on the Seine."), (document, "It lies on the Seine."), (document, "Rome.")]
