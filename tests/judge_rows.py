"""Graded answer rows for judge tests: two held-out questions, each answered by base and by the trained arm."""

from __future__ import annotations


def answer_rows() -> list[dict]:
    return [
        {
            "set": "held_out",
            "question_id": q,
            "model": m,
            "question": "Who?",
            "reference": "Paris.",
            "gold_answer": None,
            "answer": f"{m} {q}",
        }
        for q in ("q1", "q2")
        for m in ("base", "trained")
    ]
