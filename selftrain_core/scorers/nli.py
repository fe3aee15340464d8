"""An NLI classifier (transformers sequence classification) scored in length-sorted batches.

Label mapping comes from the checkpoint's `id2label`: the class named *contradiction* (and *entailment* when
present). 2-class checkpoints with generic names (LABEL_0, LABEL_1) follow SelfCheckGPT's
potsawee/deberta-v3-large-mnli convention: 0 = entailment, 1 = contradiction. A 2-class checkpoint with
entailment / not_entailment treats not_entailment as the contradiction class. Anything else fails at
configuration time with the labels it found.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from selftrain_core.errors import ConfigError

_GENERIC = re.compile(r"label_\d+")


@dataclass(frozen=True)
class NLILabels:
    contradiction: int
    entailment: int | None  # None: no entailment class; P(entail) is then 1 - P(contradiction)
    num_labels: int


def nli_labels(id2label: dict, source: str = "the NLI model") -> NLILabels:
    """The contradiction / entailment class indices of an NLI checkpoint's `id2label`."""
    names = {int(i): str(label).lower().replace("-", "_") for i, label in id2label.items()}
    n = len(names)
    negated = {i for i, name in names.items() if re.match(r"(not|non)_?entail", name)}
    contradiction = [i for i, name in names.items() if "contradict" in name] or (sorted(negated) if n == 2 else [])
    entailment = [i for i, name in names.items() if "entail" in name and i not in negated]
    if n == 2 and not contradiction and all(_GENERIC.fullmatch(name) for name in names.values()):
        return NLILabels(contradiction=1, entailment=0, num_labels=2)
    if n not in (2, 3) or len(contradiction) != 1 or (n == 3 and len(entailment) != 1):
        raise ConfigError(
            f"{source}: cannot tell the NLI classes from its id2label {id2label}; expected a 'contradiction' "
            "class (and an 'entailment' class for 3-class checkpoints). Fix the checkpoint's config.json."
        )
    return NLILabels(contradiction[0], entailment[0] if entailment else None, n)


def labels_of_folder(folder: str | Path, source: str) -> NLILabels:
    config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    if "id2label" not in config:
        raise ConfigError(f"{source}: {folder}/config.json has no id2label; it is not a classifier checkpoint")
    return nli_labels(config["id2label"], source)


class NLIModel:
    """P(label | premise, hypothesis) for many pairs, batched; pairs follow SelfCheckGPT: (sentence, sample)."""

    def __init__(self, model, tokenizer, labels: NLILabels, batch_size: int = 32, max_length: int = 512):
        self.model, self.tokenizer, self.labels = model, tokenizer, labels
        self.batch_size, self.max_length = batch_size, max_length

    @classmethod
    def load(cls, folder: str, device: str = "cpu", batch_size: int = 32, max_length: int = 512) -> NLIModel:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        model = AutoModelForSequenceClassification.from_pretrained(folder).to(device).eval()
        labels = nli_labels(model.config.id2label, folder)
        return cls(model, AutoTokenizer.from_pretrained(folder), labels, batch_size, max_length)

    def probs(self, pairs: Sequence[tuple[str, str]], batch_size: int | None = None) -> np.ndarray:
        """[len(pairs), num_labels] softmax probabilities, in the order of `pairs`."""
        import torch

        size = batch_size or self.batch_size
        out = np.zeros((len(pairs), self.labels.num_labels), dtype=np.float64)
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
        with torch.inference_mode():
            for start in range(0, len(order), size):
                batch = order[start : start + size]
                encoded = self.tokenizer(
                    [pairs[i][0] for i in batch],
                    [pairs[i][1] for i in batch],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.model.device)
                logits = self.model(**encoded).logits.float()
                out[batch] = logits.softmax(-1).cpu().numpy()
        return out

    def contradiction(self, pairs: Sequence[tuple[str, str]], batch_size: int | None = None) -> np.ndarray:
        return self.probs(pairs, batch_size)[:, self.labels.contradiction] if pairs else np.zeros(0)

    def entailment(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        if not pairs:
            return np.zeros(0)
        probs = self.probs(pairs)
        if self.labels.entailment is None:
            return 1.0 - probs[:, self.labels.contradiction]
        return probs[:, self.labels.entailment]
