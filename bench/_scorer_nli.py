"""NLI throughput for bench/scorers.py: pairs per second batched against one pair at a time, on a loadable NLI
checkpoint or on random-weight stand-ins of two common sizes."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from selftrain_core.models.resolve import resolve_model

# Random-weight stand-ins of two common NLI sizes (random weights change no timing).
NLI_SHAPES = {
    "BERT-base-sized (12 layers x 768, 110M)": {},
    "MiniLM-L6-sized (6 layers x 384, 22M, like cross-encoder/nli-MiniLM2-L6)": {
        "num_hidden_layers": 6,
        "hidden_size": 384,
        "num_attention_heads": 12,
        "intermediate_size": 1536,
    },
}


def stand_in_nli(shape: dict) -> str:
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("all-minilm-l6-v2", kind="embedder").path)
    labels = {0: "entailment", 1: "contradiction"}
    config = BertConfig(vocab_size=tokenizer.vocab_size, num_labels=2, id2label=labels, **shape)
    folder = Path(tempfile.mkdtemp(prefix="bench-nli-"))
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def nli_throughput(folder: str, pairs: list[tuple[str, str]]) -> tuple[float, float]:
    """(pairs/s batched, pairs/s one at a time) on the same pairs; checks that the scores agree."""
    from selftrain_core.scorers.nli import NLIModel

    model = NLIModel.load(folder, "cpu", batch_size=32)
    model.probs(pairs[:8])  # warm-up
    start = time.perf_counter()
    batched = model.probs(pairs, batch_size=32)
    batched_rate = len(pairs) / (time.perf_counter() - start)
    start = time.perf_counter()
    single = np.stack([model.probs([p], batch_size=1)[0] for p in pairs])
    single_rate = len(pairs) / (time.perf_counter() - start)
    assert np.allclose(batched, single, atol=1e-4), "batched and single NLI scores differ"
    return batched_rate, single_rate
