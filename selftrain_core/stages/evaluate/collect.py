"""Read a run's artifacts into evaluation items: the configured sets (evaluation/sets.py), with new questions
written for train_new, gold items from the documents, duplicates of trained questions dropped, the documents'
half kept and each set capped. Drops are counted by set and reason for the manifest."""

from __future__ import annotations

from collections import Counter

from selftrain_core.config import RunConfig
from selftrain_core.errors import StageInputError
from selftrain_core.export.suite import read_suite
from selftrain_core.stages.base import StagePlan
from selftrain_core.stages.evaluate.generation import Generation
from selftrain_core.stages.evaluate.gold import content_words
from selftrain_core.stages.evaluate.new_questions import duplicates, write_questions
from selftrain_core.stages.evaluate.sets import (
    answer_items,
    capped,
    gold_items,
    is_known,
    item,
    keep_documents,
    suite_items,
)
from selftrain_core.store import ArtifactRef, ArtifactStore

# What the sets need of the answers and score rows: each question with its grounded reference, and its scores
ANSWER_COLUMNS = ["answer_id", "question_id", "chunk_id", "question", "title", "reference", "split"]
SCORE_COLUMNS = ["answer_id", "s_k", "s_l"]


def build_items(
    cfg: RunConfig, store: ArtifactStore, plan: StagePlan, embedder, generation: Generation
) -> tuple[list[dict], Counter]:
    """Every evaluation item of the configured sets (train_new without references yet), and drops by reason."""
    e, drops = cfg.evaluate, Counter()
    suite = suite_rows(e.suite, plan.settings["evaluate"]["suite"]) if e.suite else None  # before any generation
    answers = store.read_rows(plan.parent("answers"), columns=ANSWER_COLUMNS)  # the questions, not their samples
    chunks = store.read_rows(plan.parent("chunk"))
    passages = {c["chunk_id"]: c["text"] for c in chunks}
    doc_of = {c["chunk_id"]: c["doc_id"] for c in chunks}
    scores = {s["answer_id"]: s for s in store.read_rows(plan.parent("score"), columns=SCORE_COLUMNS)}
    trained_questions = [a["question"] for a in answers if a["split"] == "train"]
    sets: dict[str, list[dict]] = {}
    if "held_out" in e.sets:
        held_out = [a for a in answers if a["split"] == "test"]
        sets["held_out"] = answer_items("held_out", held_out, passages, doc_of, scores)
    if "known" in e.sets:
        known = [a for a in answers if a["split"] == "train" and is_known(scores.get(a["answer_id"]), cfg.curate)]
        sets["known"] = answer_items("known", known, passages, doc_of, scores)
    if "train_new" in e.sets:
        train_chunks = keep_documents((c for c in chunks if c["split"] == "train"), e.documents, cfg.seed)
        limit = 2 * e.max_questions_per_set if e.max_questions_per_set else None  # room for the filters' drops
        train_chunks = capped([{**c, "set": "train_new", "question_id": c["chunk_id"]} for c in train_chunks], limit, 0)
        written, filtered = write_questions(cfg, train_chunks, generation)
        drops.update({f"train_new:{k}": v for k, v in filtered.items()})
        titles = {c["chunk_id"]: c["title"] for c in chunks}
        sets["train_new"] = [
            item("train_new", q["question_id"], q["doc_id"], q["chunk_id"], q["question"], title=titles[q["chunk_id"]],
                 document=passages[q["chunk_id"]])
            for q in written
        ]  # fmt: skip
    documents = store.read_rows(ingest_ref(store, plan))
    for name, split in (("gold_train", "train"), ("gold_held_out", "test")):
        if name in e.sets:
            gradable = [i for i in gold_items(documents, split) if content_words(i["gold"])]
            drops[f"{name}:ungradable"] += len(gold_items(documents, split)) - len(gradable)
            sets[name] = gradable
    for name in ("train_new", "gold_train"):  # questions about trained documents: never a trained question
        if name in sets:
            found = duplicates(
                [i["question"] for i in sets[name]],
                trained_questions,
                cfg.questions.near_duplicate_jaccard,
                e.dedupe_cosine,
                embedder() if e.dedupe_cosine is not None else None,
            )
            drops.update(f"{name}:{r}" for r in found if r)
            sets[name] = [i for i, r in zip(sets[name], found, strict=True) if r is None]
    if e.suite:
        sets["suite"] = suite_items(suite)
    items = []
    for name in [*e.sets, *(["suite"] if e.suite else [])]:
        items += capped(keep_documents(sets.get(name, []), e.documents, cfg.seed), e.max_questions_per_set, cfg.seed)
    return items, +drops


def ingest_ref(store: ArtifactStore, plan: StagePlan) -> ArtifactRef:
    chunk = plan.parent("chunk")
    parents = store.manifest(chunk.stage, chunk.key)["parents"]
    return next(ArtifactRef(**p) for p in parents if p["stage"] == "ingest")


def suite_rows(path: str, planned: str) -> list[dict]:
    """The suite's rows, refused if the folder changed since the plan took its version into the key."""
    meta, rows = read_suite(path)
    if meta["version"] != planned:
        raise StageInputError(f"evaluate.suite {path} changed after planning: version {meta['version']}, not {planned}")
    return rows
