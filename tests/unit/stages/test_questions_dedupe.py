"""The near-duplicate index finds exactly the pairs a comparison with every kept question finds, with far fewer
comparisons than that."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from selftrain_core.stages.questions.dedupe import NearDuplicates, word_counts

WORDS = st.frozensets(st.sampled_from([f"w{i}" for i in range(12)]), max_size=8)


def brute_force(threshold: float, kept: list[frozenset[str]], words: frozenset[str]) -> bool:
    return bool(words) and any(len(words & k) / len(words | k) >= threshold for k in kept)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([0.0, 0.3, 0.5, 0.6, 0.75, 0.8, 1.0]), st.lists(WORDS, max_size=12))
def test_the_index_decides_like_a_comparison_with_every_kept_question(threshold, stream):
    index, kept = NearDuplicates(threshold, frequencies=word_counts(stream[::2])), []  # some words not counted
    for words in stream:
        assert index.matches(set(words)) == brute_force(threshold, kept, words), (threshold, kept, words)
        if not brute_force(threshold, kept, words):
            index.add(set(words))
            kept.append(words)


def test_a_run_of_distinct_questions_is_not_quadratic():
    rng = random.Random(0)
    vocabulary = [f"w{i}" for i in range(5000)]
    common = ["what", "is", "the", "of", "who", "when"]
    n = 4000
    questions = [set(rng.sample(common, 3)) | set(rng.sample(vocabulary, 6)) for _ in range(n)]
    index = NearDuplicates(0.8, frequencies=word_counts(questions))
    for words in questions:
        if not index.matches(words):
            index.add(words)
    all_pairs = n * (n - 1) // 2
    assert len(index.sets) > 0.99 * n, "random questions are rarely near duplicates"
    assert index.comparisons < all_pairs / 100, f"{index.comparisons} comparisons of {all_pairs} pairs"
