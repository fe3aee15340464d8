"""A training budget: at most `max_questions` questions keep their training rows (pairs and SFT).

Why: an arm without knowledge filtering trains on more questions than the method; giving both the same budget
separates "which questions" from "how many". The pick sorts the eligible question ids by
stable_hash([seed, question_id]) and keeps the first ones, so it depends on neither the input row order nor the
other arm, and a smaller budget keeps a subset of a larger one.

Input: one {'data', 'sft', 'rejected', ...} dict of curate rows per question (as stages/curate/stage.py's
curate_rows gives). A question past the budget loses its pairs, SFT rows and per-sample rows and gets one rejected
row, reason `over_budget`.
"""

from __future__ import annotations

from collections.abc import Iterable

from selftrain_core.hashing import stable_hash

Rows = dict[str, list[dict]]


def over_budget(question_ids: Iterable[str], max_questions: int | None, seed: int) -> set[str]:
    """The question ids that do not fit the budget (none when max_questions is None)."""
    if max_questions is None:
        return set()
    ranked = sorted(set(question_ids), key=lambda q: (stable_hash([seed, q]), q))
    return set(ranked[max_questions:])


def trains(rows: Rows) -> bool:
    return bool(rows["data"] or rows["sft"])


def apply_budget(questions: list[Rows], max_questions: int | None, seed: int) -> list[Rows]:
    """`questions` with those past the budget turned into one `over_budget` rejected row each."""
    heads = [(q["data"] or q["rejected"] or q["sft"])[0] for q in questions]  # each carries the ids and label
    eligible = [h["question_id"] for h, q in zip(heads, questions, strict=True) if trains(q)]
    dropped = over_budget(eligible, max_questions, seed)
    out = []
    for head, rows in zip(heads, questions, strict=True):
        if trains(rows) and head["question_id"] in dropped:
            keep = ("score_id", "question_id", "s_l", "s_k", "label")
            rejected = [{**{k: head[k] for k in keep}, "reason": "over_budget"}]  # its samples' rows go too
            rows = {**{name: [] for name in rows}, "rejected": rejected}
        out.append(rows)
    return out
