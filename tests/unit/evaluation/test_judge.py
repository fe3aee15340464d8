"""The pairwise judge: verdict parsing, both orders, the cache, and its bias statistics."""

from __future__ import annotations

import pytest

from selftrain_core.backends.base import ChatResult, Completion
from selftrain_core.stages.evaluate.judge import PairwiseJudge, VerdictCache
from selftrain_core.stages.evaluate.verdicts import Comparison, judge_statistics, parse_verdict


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        # the asked-for format, with the markdown and wording judges add; the last verdict line wins
        ("Verdict: A", "A"),
        ("Verdict: tie", "tie"),
        ("**Verdict:** **B**", "B"),
        ("Verdict: Answer A", "A"),
        ("verdict - tie", "tie"),
        ("## Final verdict: [B]", "B"),
        ("Answer A gets the date wrong.\nVerdict: B", "B"),
        ("Verdict: A\nOn second thought, A misstates the year.\nVerdict: B", "B"),
        ("Verdict: A or B, hard to say", "invalid"),
        # a reply that is only the label
        ("A", "A"),
        ("b.", "B"),
        ("**B**", "B"),
        ("Tie", "tie"),
        ("Answer: **B**", "B"),
        ("Answer B", "B"),
        ("`A`", "A"),
        # sentences: the article "a" and labels inside a sentence are never verdicts
        ("It is a tie", "tie"),
        ("It is a tie, but A is shorter", "invalid"),
        ("This is a hard one: B", "B"),
        ("Both A and B are wrong", "invalid"),
        ("Answer A is better", "invalid"),
        ("A is a better answer than B", "invalid"),
        ("I cannot say", "invalid"),
        ("", "invalid"),
        ("   \n  ", "invalid"),
        # other languages: only a label standing alone after a final colon
        ("La respuesta es B", "invalid"),
        ("La respuesta correcta es: B", "B"),
        ("Réponse : B", "B"),
        ("答案：A", "A"),
    ],
)
def test_verdicts_are_parsed_conservatively(reply, verdict):
    assert parse_verdict(reply) == verdict


class ScriptedJudge:
    """A backend whose verdict is a function of the prompt; it counts the requests it gets."""

    def __init__(self, decide):
        self.decide, self.requests = decide, 0

    def generate(self, requests):
        self.requests += len(requests)
        return [ChatResult(r.request_id, [Completion(self.decide(r.messages[0]["content"]))]) for r in requests]


def answers_in(prompt: str) -> tuple[str, str]:
    a = prompt.split("Answer A: ")[1].split("\n")[0]
    b = prompt.split("Answer B: ")[1].split("\n")[0]
    return a, b


COMPARISONS = [
    Comparison("q1", "Capital of France?", "Paris.", "Lyon is the capital.", "Paris."),
    Comparison("q2", "Who wrote it?", "Orwell.", "Orwell.", "Huxley wrote it, in a long long answer."),
    Comparison("q3", "Same?", "Yes.", "Yes.", "Yes."),
]


def test_a_model_wins_only_when_preferred_in_both_orders_and_the_cache_answers_reruns(tmp_path):
    # a judge that prefers the answer equal to the reference, else always says "A" (position bias)
    def decide(prompt):
        a, b = answers_in(prompt)
        reference = prompt.split("Reference answer: ")[1].split("\n")[0]
        return "A" if a == reference else "B" if b == reference else "A"

    backend = ScriptedJudge(decide)
    judge = PairwiseJudge(lambda: backend, "judge-fp", cache=VerdictCache("t", tmp_path))
    rows = judge.verdicts(COMPARISONS)
    assert [r["outcome"] for r in rows] == ["trained", "base", "tie"]
    assert backend.requests == 4, "two orders for each differing pair; identical answers are not asked"
    again = PairwiseJudge(lambda: backend, "judge-fp", cache=VerdictCache("t", tmp_path))
    assert again.verdicts(COMPARISONS) == rows and again.asked == 0 and backend.requests == 4

    biased = ScriptedJudge(lambda prompt: "A")  # always the first position
    rows = PairwiseJudge(lambda: biased, "other", cache=VerdictCache("u", tmp_path)).verdicts(COMPARISONS)
    assert [r["outcome"] for r in rows] == ["tie", "tie", "tie"]
    stats = judge_statistics(COMPARISONS, rows)
    assert stats["position_flip_rate"] == 1.0 and stats["first_position_rate"] == 1.0
    assert stats["trained_win"] == 0.0 and stats["tie"] == 1.0


def test_length_bias_counts_decisive_verdicts_for_the_longer_answer(tmp_path):
    longer = ScriptedJudge(lambda p: "A" if len(answers_in(p)[0]) > len(answers_in(p)[1]) else "B")
    rows = PairwiseJudge(lambda: longer, "len", cache=VerdictCache("v", tmp_path)).verdicts(COMPARISONS)
    stats = judge_statistics(COMPARISONS, rows)
    assert stats["longer_answer_preferred"] == 1.0 and stats["position_flip_rate"] == 0.0
    assert [r["outcome"] for r in rows] == ["base", "trained", "tie"]


def test_cached_replies_are_parsed_again_and_the_rows_keep_them(tmp_path):
    # a judge that reasons in a sentence, then gives the asked-for line: always answer B, whichever that is
    backend = ScriptedJudge(lambda prompt: "Answer A is a bit vague.\nVerdict: B")
    cache = VerdictCache("w", tmp_path)
    rows = PairwiseJudge(lambda: backend, "fp", cache=cache).verdicts(COMPARISONS[:1])
    assert rows == [
        {
            "question_id": "q1",
            "base_first": "B",
            "trained_first": "B",
            "base_first_raw": "Answer A is a bit vague.\nVerdict: B",
            "trained_first_raw": "Answer A is a bit vague.\nVerdict: B",
            "outcome": "tie",
        }
    ]
    assert all(set(cache.get(p.stem)) == {"raw"} for p in cache.folder.glob("*.json")), "no stored labels"

    # an entry from the old parser: its stored label read the article in "It is a tie" as answer A
    for path in cache.folder.glob("*.json"):
        cache.put(path.stem, {"raw": "It is a tie", "verdict": "A"})
    again = PairwiseJudge(lambda: backend, "fp", cache=cache)
    rows = again.verdicts(COMPARISONS)
    assert again.asked == 2, "only the comparison not cached yet is asked"
    assert [(r["base_first"], r["trained_first"]) for r in rows] == [("tie", "tie"), ("B", "B"), ("same", "same")]
    assert rows[0]["base_first_raw"] == "It is a tie"
    assert rows[2]["base_first_raw"] == rows[2]["trained_first_raw"] == "", "identical answers are not asked"
    assert judge_statistics(COMPARISONS, rows)["invalid_verdicts"] == 0
