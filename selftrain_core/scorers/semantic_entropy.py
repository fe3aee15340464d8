"""Semantic entropy (Kuhn et al. 2023): entropy over meaning clusters of the samples.

Samples are clustered greedily: a sample joins the first cluster whose first member means the same
(bidirectional entailment with NLI, or cosine >= score.same_meaning_threshold with embeddings offline); empty
samples form one "no answer" cluster. A cluster's probability is the sum of its members' length-normalised
sequence probabilities exp(mean token logprob) (counts when logprobs are missing), normalised.

Mapping to an agreement-oriented score: S = 1 - H / log(K) for K >= 2 samples (1 = one meaning, 0 = every
sample a meaning of its own); a single sample has H = 0 (S = 1); no samples give 0. Semantic entropy ignores
the reference, so per-sample scores are each sample's agreement with the reference under the same relation
(for picking the most contradicting sample), not the entropy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from selftrain_core.scorers.base import ScoreInput, ScoreResult, has_text, result
from selftrain_core.scorers.consistency import open_consistency


def clusters_from(same: dict[tuple[int, int], bool], samples: Sequence[str]) -> list[int]:
    """Cluster id per sample, given same-meaning decisions for (earlier member, later sample) pairs."""
    ids, heads = [], []  # heads[c] = the first member of cluster c
    empty_cluster = None
    for k, sample in enumerate(samples):
        if not has_text(sample):
            if empty_cluster is None:
                empty_cluster = len(heads)
                heads.append(k)
            ids.append(empty_cluster)
            continue
        for c, head in enumerate(heads):
            if c != empty_cluster and same.get((head, k), False):
                ids.append(c)
                break
        else:
            ids.append(len(heads))
            heads.append(k)
    return ids


def sample_weights(samples: Sequence[str], logprobs: Sequence[Sequence[float]]) -> np.ndarray:
    """exp(mean token logprob) per sample; counts (1) when logprobs are missing; empties get the mean weight."""
    texts = [k for k, s in enumerate(samples) if has_text(s)]
    if len(logprobs) != len(samples) or any(not logprobs[k] for k in texts):
        return np.ones(len(samples))
    weights = np.ones(len(samples))
    for k in texts:
        weights[k] = math.exp(float(np.mean(logprobs[k])))
    fill = float(np.mean(weights[texts])) if texts else 1.0
    for k in set(range(len(samples))) - set(texts):
        weights[k] = fill
    return weights


def semantic_entropy(cluster_ids: Sequence[int], weights: np.ndarray) -> float:
    totals = np.zeros(max(cluster_ids) + 1)
    np.add.at(totals, np.asarray(cluster_ids), weights)
    p = totals / totals.sum()
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


class SemanticEntropy:
    scorer_id = "semantic-entropy"
    version = 1
    needs_document = False

    def __init__(self, consistency):
        self.consistency = consistency

    @staticmethod
    def roles(settings) -> tuple[str, ...]:
        return ("nli" if settings.consistency == "nli" else "embedder",)

    @classmethod
    def open(cls, settings, models) -> SemanticEntropy:
        return cls(open_consistency(settings.consistency, settings, models))

    def score(self, items: Sequence[ScoreInput]) -> list[ScoreResult]:
        # Every (earlier, later) sample pair is decided in one batched pass; greedy clustering reads the answers.
        pair_keys, pairs = [], []
        for i, item in enumerate(items):
            for a in range(len(item.samples)):
                for b in range(a + 1, len(item.samples)):
                    pair_keys.append((i, a, b))
                    pairs.append((item.samples[a], item.samples[b]))
        same_flat = self.consistency.same_meaning(pairs) if pairs else []
        same: list[dict[tuple[int, int], bool]] = [{} for _ in items]
        for (i, a, b), decision in zip(pair_keys, same_flat, strict=True):
            same[i][(a, b)] = bool(decision)
        agreement = iter(self.consistency.agreement([(it.reference, s) for it in items for s in it.samples]).tolist())
        out = []
        for i, item in enumerate(items):
            per_sample = [next(agreement) for _ in item.samples]
            n = len(item.samples)
            if n == 0:
                out.append(result([], item, {"entropy": None, "clusters": 0}))
                continue
            ids = clusters_from(same[i], item.samples)
            entropy = semantic_entropy(ids, sample_weights(item.samples, item.logprobs))
            res = result(per_sample, item, {"entropy": round(entropy, 6), "clusters": max(ids) + 1})
            res.score = round(1.0 - entropy / math.log(n), 6) if n >= 2 else 1.0
            if "empty_reference" in res.flags or not any(has_text(s) for s in item.samples):
                res.score = 0.0
            out.append(res)
        return out
