"""Hallucination check against the document: is an answer supported by the source chunk of its question?

`lexical` (default; no model, so it shares none with any training scorer): the share of the answer's numbers and
capitalised names (not sentence-initial) that occur in the document; an answer with none of them has support 1.
`embedding` (offline default): an answer's support is its best cosine similarity (sentence embeddings) with any
sentence of the chunk. `nli`: the probability that the chunk (premise) entails the answer (hypothesis) under an NLI
classifier. Below `evaluate.hallucination_threshold` the answer counts as a hallucination. This looks at the
document, not at the reference answer or the training scorer. An empty answer has support 0.
"""

from __future__ import annotations

import re
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


_TOKEN = re.compile(r"[A-Za-z0-9][\w'’-]*")
_NUMBER = re.compile(r"\d")


def claim_words(answer: str) -> list[str]:
    """The answer's checkable words: numbers and capitalised words that do not start a sentence (names, places)."""
    out = []
    for sentence in split_sentences(answer) or [answer]:
        for i, token in enumerate(_TOKEN.findall(sentence)):
            if _NUMBER.search(token) or (i > 0 and token[0].isupper()):
                out.append(token.lower().rstrip("'’s"))
    return list(dict.fromkeys(w for w in out if w))


def lexical_support(answers: Sequence[str], documents: Sequence[str]) -> list[float]:
    """Per answer: the share of its numbers and names found in its document (1.0 with none to check; no model)."""
    out = []
    for answer, document in zip(answers, documents, strict=True):
        claims = claim_words(answer)
        if not answer.strip():
            out.append(0.0)
            continue
        words = {w.lower().rstrip("'’s") for w in _TOKEN.findall(document)}
        text = document.lower()
        found = sum(c in words or c in text for c in claims)
        out.append(round(found / len(claims), 6) if claims else 1.0)
    return out
