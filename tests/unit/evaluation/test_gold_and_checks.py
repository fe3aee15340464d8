"""Model-free grading: gold answers, abstentions, the lexical hallucination check, and paired intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from selftrain_core.stages.evaluate.abstention import is_abstention
from selftrain_core.stages.evaluate.gold import content_words, gold_grade
from selftrain_core.stages.evaluate.grounding import claim_words, lexical_support
from selftrain_core.stages.evaluate.intervals import mean_interval, significant


@pytest.mark.parametrize(
    ("answer", "gold", "grade"),
    [
        ("Tallinn is the capital city of Estonia.", "Capital of Estonia", 1.0),
        ("Tallinn is a city in Finland.", "Capital of Estonia", 0.0),
        ("Tallinn is the capital of Turkey.", "Capital of Estonia", 0.5),
        ("The peach is a fruit that grows on trees.", "Type of fruit tree, or its fruit", 2 / 3),
        ("Palau is an island country.", "Country in the Western Pacific", 1 / 3),
        ("A whale is a large marine mammal.", "Informal group of large marine mammals", 0.6),
        ("", "Capital of Estonia", 0.0),
        ("Berlin.", "Germany (country)", 0.0),
        ("Germany", "Germany (country)", 1.0),
    ],
)
def test_gold_grade_is_the_share_of_the_gold_answers_content_words(answer, gold, grade):
    assert gold_grade(answer, gold) == pytest.approx(grade)


def test_a_gold_answer_without_content_words_cannot_be_graded():
    assert content_words("The of a") == []
    assert math.isnan(gold_grade("anything", "The of a"))


@pytest.mark.parametrize(
    ("answer", "abstains"),
    [
        ("I don't know.", True),
        ("I do not know who that is.", True),
        ("I'm not sure.", True),
        ("I cannot answer that question without more context.", True),
        ("I have no information about this person.", True),
        ("", True),
        ("   ", True),
        ("Paris is the capital of France.", False),
        ("The author does not know the answer, says the book.", False),
        ("Tallinn is the capital of Estonia. I don't know its population.", False),
    ],
)
def test_abstentions_are_recognised_in_the_first_sentence(answer, abstains):
    assert is_abstention(answer) is abstains


def test_the_lexical_check_counts_names_and_numbers_missing_from_the_document():
    document = "Tallinn is the capital of Estonia. It received town rights in 1248."
    assert claim_words("Tallinn is the capital of Turkey since 1248.") == ["turkey", "1248"]
    answers = [
        "Tallinn is the capital of Estonia since 1248.",  # every name and number is in the document
        "Tallinn is the capital of Turkey since 1991.",  # neither is
        "Tallinn is the capital of Turkey since 1248.",  # half
        "it is a city by the sea.",  # nothing checkable: supported
        "",  # said nothing: no support
    ]
    assert lexical_support(answers, [document] * len(answers)) == [1.0, 0.0, 0.5, 1.0, 0.0]


def test_paired_intervals_use_bca_and_fall_back_where_it_is_undefined():
    rng = np.random.default_rng(0)
    diffs = rng.normal(0.2, 0.3, size=60).tolist()
    mean, low, high, kind = mean_interval(diffs, 1000, 0.95, 0)
    assert kind == "bca" and low < mean < high and low > 0
    assert mean_interval([0.0] * 20, 1000, 0.95, 0) == (0.0, 0.0, 0.0, "exact")
    assert mean_interval([], 1000, 0.95, 0)[3] == "none"
    assert mean_interval([1.0, 0.0], 1000, 0.95, 0)[3] == "percentile", "BCa needs at least 3 values"
    assert significant({"value": mean, "ci_low": low, "ci_high": high, "n": 60}) is True
    assert significant({"value": 0.1, "ci_low": -0.1, "ci_high": 0.3, "n": 60}) is False
    assert significant({"value": 0.5, "ci_low": 0.2, "ci_high": 0.8, "n": 5}) is None, "too few to conclude"
