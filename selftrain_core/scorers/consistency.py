"""How much two answers agree, by sentence embeddings (offline default) or by NLI in both directions.

`agreement` is symmetric and in [0, 1]; `same_meaning` decides semantic-entropy clusters: cosine at or above a
threshold (embedding), or each answer entailing the other (NLI, Kuhn et al. 2023). An empty answer agrees with
nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from selftrain_core.scorers.base import has_text

Pairs = Sequence[tuple[str, str]]


class EmbeddingConsistency:
    def __init__(self, embedder, batch_size: int = 64, threshold: float = 0.8):
        self.embedder, self.batch_size, self.threshold = embedder, batch_size, threshold

    def _cosines(self, pairs: Pairs) -> np.ndarray:
        texts = list(dict.fromkeys(t for pair in pairs for t in pair))
        if not texts:
            return np.zeros(0)
        vectors = self.embedder.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        index = {t: i for i, t in enumerate(texts)}
        cos = np.array([float(vectors[index[a]] @ vectors[index[b]]) for a, b in pairs])
        empty = np.array([not (has_text(a) and has_text(b)) for a, b in pairs])
        return np.where(empty, 0.0, np.clip(cos, 0.0, 1.0))

    def agreement(self, pairs: Pairs) -> np.ndarray:
        return self._cosines(pairs)

    def same_meaning(self, pairs: Pairs) -> np.ndarray:
        return self._cosines(pairs) >= self.threshold


class NLIConsistency:
    def __init__(self, nli):
        self.nli = nli

    def _both_ways(self, pairs: Pairs) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities [n, labels] for (a, b) and for (b, a)."""
        probs = self.nli.probs(list(pairs) + [(b, a) for a, b in pairs])
        return probs[: len(pairs)], probs[len(pairs) :]

    def agreement(self, pairs: Pairs) -> np.ndarray:
        if not pairs:
            return np.zeros(0)
        forward, backward = self._both_ways(pairs)
        c = self.nli.labels.contradiction
        value = 1.0 - (forward[:, c] + backward[:, c]) / 2
        return np.where([has_text(a) and has_text(b) for a, b in pairs], value, 0.0)

    def same_meaning(self, pairs: Pairs) -> np.ndarray:
        if not pairs:
            return np.zeros(0, dtype=bool)
        forward, backward = self._both_ways(pairs)
        labels = self.nli.labels
        if labels.entailment is None:
            entails = (forward.argmax(-1) != labels.contradiction) & (backward.argmax(-1) != labels.contradiction)
        else:
            entails = (forward.argmax(-1) == labels.entailment) & (backward.argmax(-1) == labels.entailment)
        return entails & np.array([has_text(a) and has_text(b) for a, b in pairs])


def open_consistency(kind: str, settings, models):
    if kind == "nli":
        return NLIConsistency(models.nli)
    return EmbeddingConsistency(models.embedder, models.embedder_batch_size, settings.same_meaning_threshold)
