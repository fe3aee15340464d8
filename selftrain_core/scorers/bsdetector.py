"""BSDetector (Chen & Mueller 2023): observed consistency combined with the model's self-reflection.

Observed consistency o_i: agreement of sample i with the reference (embedding cosine, or NLI: 1 - mean
contradiction probability in both directions). Self-reflection r: the policy model grades the reference answer
(with the passage when scoring S_L, without it for S_K): (A) correct = 1, (B) incorrect = 0, (C) not sure = 0.5;
a reply we cannot read counts as not sure and is flagged. Confidence = beta * mean(o) + (1 - beta) * r;
per-sample = beta * o_i + (1 - beta) * r, so the score stays the mean of the per-sample scores.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from selftrain_core.backends.base import ChatRequest
from selftrain_core.prompts import load_prompt
from selftrain_core.scorers.base import ScoreInput, ScoreResult, has_text, result
from selftrain_core.scorers.consistency import open_consistency

GRADES = {"correct": 1.0, "incorrect": 0.0, "not_sure": 0.5}
_LETTER = {"a": "correct", "b": "incorrect", "c": "not_sure"}
_UNSURE = re.compile(r"not\s+sure|unsure|uncertain|don'?t\s+know|do\s+not\s+know|cannot\s+(tell|say|determine)")
_WRONG = re.compile(r"\b(incorrect|not\s+correct|wrong|false|inaccurate)\b")
_RIGHT = re.compile(r"\b(correct|right|true|accurate)\b")


def parse_grade(reply: str) -> str | None:
    """'correct' | 'incorrect' | 'not_sure', or None when the reply names no grade.

    Reads, in order: an explicit 'answer: X' letter, a lone letter A/B/C (bare or in parentheses) at the start or
    alone in the reply, then the grade words (negated and unsure forms before plain 'correct').
    """
    text = reply.strip().lower()
    if not text:
        return None
    explicit = re.search(r"answer\s*(?:is)?\s*[:=]?\s*\(?([abc])\)?(?![a-z])", text)
    if explicit:
        return _LETTER[explicit.group(1)]
    lone = re.match(r"^\(?([abc])\)?(?:[\s.:,)]|$)", text) or re.search(r"\(([abc])\)", text)
    if lone:
        return _LETTER[lone.group(1)]
    if _UNSURE.search(text):
        return "not_sure"
    if _WRONG.search(text):
        return "incorrect"
    if _RIGHT.search(text):
        return "correct"
    return None


class BSDetector:
    scorer_id = "bsdetector"
    version = 1
    needs_document = True  # self-reflection with the passage for S_L

    def __init__(self, consistency, backend, beta: float = 0.7, prompt_id: str = "self_reflection"):
        self.consistency, self.backend, self.beta = consistency, backend, beta
        self.prompt = load_prompt(prompt_id)

    @staticmethod
    def roles(settings) -> tuple[str, ...]:
        return ("policy", "nli" if settings.consistency == "nli" else "embedder")

    @classmethod
    def open(cls, settings, models) -> BSDetector:
        consistency = open_consistency(settings.consistency, settings, models)
        return cls(consistency, models.policy, settings.bsdetector_beta, settings.reflection_prompt)

    def reflect(self, items: Sequence[ScoreInput]) -> list[str]:
        requests = [
            ChatRequest(
                request_id=f"reflect/{i}",
                messages=self.prompt.messages(
                    passage=item.document or "", question=item.question, answer=item.reference
                ),
                temperature=0.0,
                max_tokens=16,
            )
            for i, item in enumerate(items)
        ]
        return [r.completions[0].text for r in self.backend.generate(requests)] if requests else []

    def score(self, items: Sequence[ScoreInput]) -> list[ScoreResult]:
        pairs = [(item.reference, s) for item in items for s in item.samples]
        observed = iter(self.consistency.agreement(pairs).tolist())
        asks = [i for i, item in enumerate(items) if has_text(item.reference)]
        replies = dict(zip(asks, self.reflect([items[i] for i in asks]), strict=True))
        out = []
        for i, item in enumerate(items):
            o = [next(observed) for _ in item.samples]
            grade = parse_grade(replies.get(i, ""))
            r = GRADES[grade or "not_sure"]
            per_sample = [self.beta * v + (1 - self.beta) * r for v in o]
            res = result(per_sample, item, {"grade": grade, "reflection": r, "reply": replies.get(i, "")[:200]})
            if i in replies and grade is None:
                res.flags.append("unreadable_grade")
            out.append(res)
        return out
