"""The evaluation sets: new questions never repeat a trained one, halves and caps are seeded and stable."""

from __future__ import annotations

import numpy as np

from selftrain_core.stages.curate.config import CurateConfig
from selftrain_core.stages.evaluate.new_questions import duplicates
from selftrain_core.stages.evaluate.sets import capped, document_half, gold_items, is_known, keep_documents


class WordEmbedder:
    """Bag-of-words vectors: cosine is high exactly when the questions share most words."""

    def __init__(self, vocabulary: list[str]):
        self.index = {w: i for i, w in enumerate(vocabulary)}

    def encode(self, texts, normalize_embeddings=True, **_):
        out = np.zeros((len(texts), len(self.index)))
        for row, text in enumerate(texts):
            for word in text.lower().strip("?").split():
                if word in self.index:
                    out[row, self.index[word]] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


TRAINED = ["What is the capital of Estonia?", "When did Tallinn receive town rights?"]


def test_a_new_question_that_repeats_or_paraphrases_a_trained_one_is_dropped():
    candidates = [
        "What is the capital of Estonia?",  # exact repeat
        "what is the capital of estonia",  # same words
        "When did Tallinn get town rights?",  # a paraphrase by embedding
        "How many people live in Tallinn?",  # new
    ]
    words = sorted({w for t in TRAINED + candidates for w in t.lower().strip("?").split()})
    found = duplicates(candidates, TRAINED, jaccard=0.8, cosine=0.8, embedder=WordEmbedder(words))
    assert found == ["trained_duplicate", "trained_duplicate", "trained_paraphrase", None]
    assert duplicates(candidates, TRAINED, jaccard=0.8, cosine=0.8)[2:] == [None, None], "words alone"


def test_halves_and_caps_are_seeded_and_independent_of_order():
    items = [{"set": "held_out", "question_id": f"q{i}", "doc_id": f"doc{i % 7}"} for i in range(40)]
    select = keep_documents(items, "select", 0)
    report = keep_documents(items, "report", 0)
    assert select and report and len(select) + len(report) == 40
    assert not {i["doc_id"] for i in select} & {i["doc_id"] for i in report}, "a document is in one half only"
    assert {document_half(f"doc{i}", 0) for i in range(7)} == {"select", "report"}
    assert capped(items, 10, 0) == capped(list(reversed(items)), 10, 0)
    assert len(capped(items, 10, 0)) == 10 and capped(items, None, 0) == sorted(items, key=lambda i: i["question_id"])


def test_gold_items_are_the_documents_gold_questions_by_split():
    docs = [
        {"doc_id": "d1", "split": "train", "title": "Tallinn", "text": "t", "gold_question": "What is Tallinn?",
         "gold_answer": "Capital of Estonia"},
        {"doc_id": "d2", "split": "test", "title": "Riga", "text": "t", "gold_question": "What is Riga?",
         "gold_answer": "Capital of Latvia"},
        {"doc_id": "d3", "split": "train", "title": "X", "text": "t", "gold_question": None, "gold_answer": None},
    ]  # fmt: skip
    train = gold_items(docs, "train")
    assert [(i["set"], i["question"], i["gold"], i["reference"]) for i in train] == [
        ("gold_train", "What is Tallinn?", "Capital of Estonia", None)
    ]
    assert [i["doc_id"] for i in gold_items(docs, "test")] == ["d2"]


def test_the_known_set_follows_the_methods_rule():
    rule = CurateConfig(answerable_threshold=0.5, known_threshold=0.75)
    assert is_known({"s_l": 0.9, "s_k": 0.8}, rule)
    assert not is_known({"s_l": 0.9, "s_k": 0.7}, rule), "unknown: trained on"
    assert not is_known({"s_l": 0.4, "s_k": 0.9}, rule), "unanswerable"
    assert not is_known(None, rule)
