"""One answer to one evaluation item -> its graded row.

Graded against the gold answer for gold items (gold_grade: share of the gold answer's content words present;
correct when it reaches `evaluate.gold_threshold`), else against the grounded reference (token F1; correct when
it reaches `evaluate.correct_f1`). An abstention ("I don't know") is neither correct nor wrong: `wrong` counts
the answers that state something incorrect. `hallucinated`: the answer's support by its document (the configured
check) is below `evaluate.hallucination_threshold`; an abstention is not a hallucination.
"""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa

from selftrain_core.stages.evaluate.abstention import is_abstention
from selftrain_core.stages.evaluate.config import EvaluateConfig
from selftrain_core.stages.evaluate.gold import gold_grade
from selftrain_core.stages.evaluate.metrics import containment, token_f1

ROW_SCHEMA = pa.schema(
    [
        ("set", pa.string()),
        ("question_id", pa.string()),
        ("doc_id", pa.string()),
        ("model", pa.string()),
        ("question", pa.string()),
        ("reference", pa.string()),
        ("gold_answer", pa.string()),
        ("answer", pa.string()),
        ("f1", pa.float64()),
        ("containment", pa.float64()),
        ("gold_grade", pa.float64()),
        ("correct", pa.float64()),
        ("abstained", pa.float64()),
        ("wrong", pa.float64()),
        ("support", pa.float64()),
        ("hallucinated", pa.float64()),
        ("s_k", pa.float64()),
    ]
)


def grade(item: dict[str, Any], model: str, answer: str, support: float, e: EvaluateConfig) -> dict[str, Any]:
    target = item["gold"] if item["gold"] is not None else item["reference"]
    f1 = token_f1(answer, target)
    graded = gold_grade(answer, item["gold"]) if item["gold"] is not None else float("nan")
    correct = graded >= e.gold_threshold if item["gold"] is not None else f1 >= e.correct_f1
    abstained = is_abstention(answer)
    return {
        "set": item["set"],
        "question_id": item["question_id"],
        "doc_id": item["doc_id"],
        "model": model,
        "question": item["question"],
        "reference": item["reference"],
        "gold_answer": item["gold"],
        "answer": answer,
        "f1": f1,
        "containment": containment(answer, target),
        "gold_grade": graded,
        "correct": float(correct and not abstained),
        "abstained": float(abstained),
        "wrong": float(not correct and not abstained),
        "support": support,
        "hallucinated": float(support < e.hallucination_threshold and not abstained),
        "s_k": item["s_k"] if not math.isnan(item["s_k"]) else float("nan"),
    }
