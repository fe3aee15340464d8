"""Embedding agreement: cosine similarity between the reference answer and each sample (sentence embeddings).

The offline default scorer. A sample's score is its cosine with the reference (1 = same meaning, ~0 =
unrelated), clipped to [0, 1]; the question's score is the mean over samples. An empty sample or reference
scores 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from selftrain_core.scorers.base import ScoreInput, ScoreResult, mean, result


class EmbeddingAgreement:
    scorer_id = "embedding-agreement"
    version = 2
    needs_document = False

    def __init__(self, embedder, batch_size: int = 64):
        self.embedder, self.batch_size = embedder, batch_size

    @staticmethod
    def roles(settings) -> tuple[str, ...]:
        return ("embedder",)

    @classmethod
    def open(cls, settings, models) -> EmbeddingAgreement:
        return cls(models.embedder, models.embedder_batch_size)

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
        if not references and not flat:
            return []
        vectors = self.embed(list(references) + flat)
        refs, rest = vectors[: len(references)], vectors[len(references) :]
        out, start = [], 0
        for i, group in enumerate(samples):
            block = rest[start : start + len(group)]
            start += len(group)
            out.append([round(float(v), 6) for v in np.clip(block @ refs[i], -1.0, 1.0)])
        return out

    def score(self, items: Sequence[ScoreInput]) -> list[ScoreResult]:
        cosines = self.score_many([i.reference for i in items], [i.samples for i in items])
        return [result(c, item) for c, item in zip(cosines, items, strict=True)]


def mean_score(per_sample: Sequence[float]) -> float:
    """Mean agreement; no samples means no evidence of knowledge (0)."""
    return mean(per_sample)
