"""Hallucination check against the document: is an answer supported by the source chunk of its question?

`embedding` (offline default): an answer's support is its best cosine similarity (sentence embeddings) with any
sentence of the chunk. `nli`: the probability that the chunk (premise) entails the answer (hypothesis) under an NLI
classifier. Below `evaluate.hallucination_threshold` the answer counts as a hallucination. This looks at the
document, not at the reference answer or the training scorer. An empty answer has support 0.
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


def nli_support(nli, answers: Sequence[str], documents: Sequence[str]) -> list[float]:
    """P(document entails answer) per answer (an NLIModel from selftrain_core.scorers.nli)."""
    pairs = [(doc, answer) for answer, doc in zip(answers, documents, strict=True)]
    entailed = nli.entailment(pairs)
    return [round(float(p), 6) if a.strip() else 0.0 for a, p in zip(answers, entailed, strict=True)]
