"""New questions about the training documents, for the train_new evaluation set.

Written by the question writer from `evaluate.question_prompt` (another template than the training questions'),
with seeds derived under another name, filtered by the questions stage's own filters, then deduplicated against
every question of the training split, trained or not: a new question is dropped when its word-set Jaccard with a
trained question reaches `questions.near_duplicate_jaccard` (exact repeats included) or its embedding cosine
reaches `evaluate.dedupe_cosine`. What remains asks about the trained facts in words the model was not trained on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from selftrain_core.backends.base import ChatRequest
from selftrain_core.backends.settings import GenerationSettings
from selftrain_core.config import RunConfig
from selftrain_core.hashing import derive_seed, stable_hash
from selftrain_core.prompts import load_prompt
from selftrain_core.stages.evaluate.generation import Generation
from selftrain_core.stages.questions.dedupe import NearDuplicates, word_counts
from selftrain_core.stages.questions.stage import extract_question, reject_reason, words


def write_questions(
    cfg: RunConfig, chunks: Sequence[dict[str, Any]], generation: Generation
) -> tuple[list[dict[str, Any]], Counter]:
    """(kept questions: question_id, chunk_id, doc_id, question; drops by filter name) for the given chunks, the
    writer's completions kept as the table `questions_new`."""
    q, prompt = cfg.questions, load_prompt(cfg.evaluate.question_prompt)
    requests = [
        ChatRequest(
            request_id=c["chunk_id"],
            messages=prompt.messages(title=c["title"], passage=c["text"]),
            n=1,
            temperature=q.temperature,
            top_p=q.top_p,
            max_tokens=q.max_new_tokens,
            seed=derive_seed(cfg.seed, "evaluate-questions", c["chunk_id"]),
            logprobs=False,
        )
        for c in chunks
    ]
    settings = GenerationSettings.for_questions(cfg, trained=True)  # evaluate's dtype, which its key names
    texts = generation.texts("questions_new", settings, settings.resolve(), requests)
    questions = [extract_question(text) for text in texts]
    counts = word_counts(words(question) for question in questions)
    kept, kept_words, drops = [], NearDuplicates(q.near_duplicate_jaccard, frequencies=counts), Counter()
    for chunk, question in zip(chunks, questions, strict=True):
        reason = reject_reason(question, kept_words, q, chunk["title"])
        if reason:
            drops[reason] += 1
            continue
        kept_words.add(words(question))
        kept.append(
            {
                "question_id": "qn-" + stable_hash([chunk["chunk_id"], question]),
                "chunk_id": chunk["chunk_id"],
                "doc_id": chunk["doc_id"],
                "question": question,
            }
        )
    return kept, drops


def duplicates(
    candidates: Sequence[str], trained: Sequence[str], jaccard: float, cosine: float | None, embedder=None
) -> list[str | None]:
    """Per candidate: 'trained_duplicate' (word-set Jaccard), 'trained_paraphrase' (embedding cosine) or None."""
    trained_words = [words(t) for t in trained]
    out: list[str | None] = []
    for text in candidates:
        mine = words(text)
        close = any(mine and len(mine & t) / len(mine | t) >= jaccard for t in trained_words)
        out.append("trained_duplicate" if close else None)
    if cosine is not None and embedder is not None and trained and candidates:
        vectors = embedder.encode(
            list(candidates) + list(trained), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        similarity = vectors[: len(candidates)] @ vectors[len(candidates) :].T
        best = np.max(similarity, axis=1)
        out = [r or ("trained_paraphrase" if b >= cosine else None) for r, b in zip(out, best, strict=True)]
    return out
