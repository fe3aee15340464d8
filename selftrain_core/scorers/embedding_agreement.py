"""Embedding agreement: cosine similarity between the reference answer and each sample (sentence embeddings).

The offline default scorer. A sample's score is its cosine with the reference (1 = same meaning, ~0 =
unrelated); the question's score is the mean over samples. An empty sample or reference scores 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class EmbeddingAgreement:
    scorer_id = "embedding-agreement"
    version = 1

    def __init__(self, embedder, batch_size: int = 64):
        self.embedder, self.batch_size = embedder, batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.embedder.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        empty = np.array([not t.strip() for t in texts])
        if empty.any():
            vectors[empty] = 0.0
        return vectors

    def score_many(self, references: Sequence[str], samples: Sequence[Sequence[str]]) -> list[list[float]]:
        """Per-sample cosine with the reference, for many questions in one batched encode."""
        flat = [s for group in samples for s in group]
        vectors = self.embed(list(references) + flat)
        refs, rest = vectors[: len(references)], vectors[len(references) :]
        out, start = [], 0
        for i, group in enumerate(samples):
            block = rest[start : start + len(group)]
            start += len(group)
            out.append([round(float(v), 6) for v in np.clip(block @ refs[i], -1.0, 1.0)])
        return out


def mean_score(per_sample: Sequence[float]) -> float:
    """Mean agreement; no samples means no evidence of knowledge (0)."""
    return float(np.mean(per_sample)) if len(per_sample) else 0.0
