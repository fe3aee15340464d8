"""The evaluation sets: which questions each model answers, with what each answer is graded against.

Every item is a dict: set, title, question_id, doc_id, chunk_id, question, reference (grounded answer, or None), gold
(an answer no model wrote, or None), document (the text an answer's support is checked in), s_k (the training
scorer's knowledge score, where the question was scored).
- held_out: the generated questions of held-out documents (never trained on); graded by the grounded reference.
- known: training questions the model already knew (S_K >= known_threshold, answerable): never trained on by the
  method, so they measure retention.
- train_new: new questions about the training documents (evaluation/new_questions.py), deduplicated against every
  trained question, so a gain means the model learned the document's facts, not the trained prompt.
- gold_train / gold_held_out: each document's gold question (e.g. "What is Tallinn?"), graded by its gold answer.
- suite (with `evaluate.suite`): the questions of a regression suite (export/suite.py), hard cases of an earlier
  run, graded by the suite's grounded reference.
Items can be restricted to one half of the documents (`evaluate.documents`) and capped per set, both by seeded
hashes, so the same config always evaluates the same questions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from selftrain_core.hashing import stable_hash
from selftrain_core.stages.curate.config import CurateConfig


def document_half(doc_id: str, seed: int) -> str:
    """'select' or 'report': a seeded, stable half of the documents."""
    return "select" if int(stable_hash([seed, "half", doc_id]), 16) % 2 == 0 else "report"


def keep_documents(items: Iterable[dict[str, Any]], which: str, seed: int) -> list[dict[str, Any]]:
    return [i for i in items if which == "all" or document_half(i["doc_id"], seed) == which]


def capped(items: list[dict[str, Any]], limit: int | None, seed: int) -> list[dict[str, Any]]:
    """At most `limit` items (a seeded choice, independent of input order), sorted by question id."""
    chosen = sorted(items, key=lambda i: stable_hash([seed, i["set"], i["question_id"]]))
    return sorted(chosen[:limit] if limit else chosen, key=lambda i: i["question_id"])


def item(set_name: str, question_id: str, doc_id: str, chunk_id: str | None, question: str, **rest: Any) -> dict:
    return {
        "set": set_name,
        "title": rest["title"],
        "question_id": question_id,
        "doc_id": doc_id,
        "chunk_id": chunk_id,
        "question": question,
        "reference": rest.get("reference"),
        "gold": rest.get("gold"),
        "document": rest["document"],
        "s_k": rest.get("s_k", float("nan")),
    }


def answer_items(
    set_name: str, answers: Iterable[dict[str, Any]], passages: dict[str, str], docs: dict[str, str], scores
) -> list[dict[str, Any]]:
    """Items from answers-stage rows (their grounded reference), with each question's S_K."""
    return [
        item(
            set_name,
            a["question_id"],
            docs[a["chunk_id"]],
            a["chunk_id"],
            a["question"],
            title=a["title"],
            reference=a["reference"],
            document=passages[a["chunk_id"]],
            s_k=scores.get(a["answer_id"], {}).get("s_k", float("nan")),
        )
        for a in answers
    ]


def is_known(score: dict[str, Any] | None, curate: CurateConfig) -> bool:
    """The method's rule for a question it does not train on because the model knows it."""
    return score is not None and score["s_l"] >= curate.answerable_threshold and score["s_k"] >= curate.known_threshold


def gold_items(documents: Iterable[dict[str, Any]], split: str) -> list[dict[str, Any]]:
    set_name = "gold_train" if split == "train" else "gold_held_out"
    return [
        item(
            set_name,
            "gold-" + stable_hash([d["doc_id"], d["gold_question"]]),
            d["doc_id"],
            None,
            d["gold_question"],
            title=d["title"],
            gold=d["gold_answer"],
            document=d["text"],
        )
        for d in documents
        if d["split"] == split and d.get("gold_answer")
    ]


def suite_items(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items of the `suite` set from a suite's rows; question_id is the suite_id. S_K is left out (NaN): the suite
    was chosen by low S_K, so the scorer's AUROC on it would say nothing about the scorer."""
    return [
        item("suite", r["suite_id"], r["doc_id"], r["chunk_id"], r["question"], title=r["title"],
             reference=r["reference"], document=r["document"])
        for r in rows
    ]  # fmt: skip
