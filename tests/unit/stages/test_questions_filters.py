import pytest

from selftrain_core.stages.questions.config import QuestionsConfig
from selftrain_core.stages.questions.stage import extract_question, reject_reason, words


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("What is the capital of France?", "What is the capital of France?"),
        ("Question: Who built the Alps tunnel? It was...", "Who built the Alps tunnel?"),
        ("Sure!\n1. When did Paris host the games?\n2. Why?", "When did Paris host the games?"),
        ('"Where is Berlin?"', "Where is Berlin?"),
        ("", ""),
        ("A statement without a question", "A statement without a question"),
    ],
)
def test_extract_question(raw, expected):
    assert extract_question(raw) == expected


CFG = QuestionsConfig()


@pytest.mark.parametrize(
    ("question", "title", "reason"),
    [
        ("", "Paris", "empty"),
        ("Paris is a city", "Paris", "not_a_question"),
        ("Paris?", "Paris", "too_short"),
        ("What does the passage say about Paris?", "Paris", "meta_question"),
        ("What is the answer to this question about Paris?", "Paris", "meta_question"),
        ("What is the capital city of this country?", "Paris", "missing_subject"),
        ("What river flows through Paris today?", "Paris", None),
    ],
)
def test_reject_reasons(question, title, reason):
    assert reject_reason(question, [], CFG, title) == reason


def test_near_duplicates_are_rejected():
    kept = [words("What river flows through Paris today?")]
    assert reject_reason("What river flows through Paris today ?", kept, CFG, "Paris") == "near_duplicate"
    assert reject_reason("How many people live in Paris today?", kept, CFG, "Paris") is None


def test_filters_run_in_the_configured_order_and_can_be_switched_off():
    question = "Paris?"  # too short and missing its subject
    assert reject_reason(question, [], QuestionsConfig(filters=["missing_subject", "too_short"]), "Berlin") == (
        "missing_subject"
    )
    assert reject_reason(question, [], QuestionsConfig(filters=["too_short", "missing_subject"]), "Berlin") == (
        "too_short"
    )
    assert reject_reason(question, [], QuestionsConfig(filters=[]), "Berlin") is None
