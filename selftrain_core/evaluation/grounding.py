"""Hallucination check against the document: is an answer supported by some sentence of its source chunk?

An answer's support is its best cosine similarity (sentence embeddings) with any sentence of the document chunk
its question was written from; below `evaluate.hallucination_threshold` the answer counts as a hallucination.
This looks at the document, not at the reference answer or the training scorer. An empty answer has support 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from selftrain_core.scorers.text import split_sentences


def document_support(embedder, answers: Sequence[str], documents: Sequence[str], batch_size: int = 64) -> list[float]:
    sentences = [split_sentences(doc) or [doc] for doc in documents]
    flat = [s for group in sentences for s in group]
    vectors = embedder.encode(
        list(answers) + flat,
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    answer_vectors, sentence_vectors = vectors[: len(answers)], vectors[len(answers) :]
    out, start = [], 0
    for answer, vector, group in zip(answers, answer_vectors, sentences, strict=True):
        block = sentence_vectors[start : start + len(group)]
        start += len(group)
        out.append(round(float(np.clip(block @ vector, -1, 1).max()), 6) if answer.strip() else 0.0)
    return out
