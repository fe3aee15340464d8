"""SelfCheckGPT-prompt: the policy LLM is asked whether each sample supports each reference sentence (Yes / No).

With a backend that gives next-token log-probabilities (hf), a pair's support is P(Yes) / (P(Yes) + P(No)) for
the first answer token; otherwise the model answers and the reply is read as Yes = 1, No = 0, else 0.5
(SelfCheckGPT's mapping). A sample's agreement is its mean support over the sentences.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from selftrain_core.backends.base import ChatRequest, OptionLogprobs
from selftrain_core.prompts import load_prompt
from selftrain_core.scorers.base import ScoreInput, ScoreResult, has_text, result
from selftrain_core.scorers.text import split_sentences


def read_yes_no(reply: str) -> float:
    words = re.findall(r"[a-z]+", reply.lower())
    for word in words[:3]:
        if word in {"yes", "supported", "true"}:
            return 1.0
        if word in {"no", "not", "unsupported", "false"}:
            return 0.0
    return 0.5


class SelfCheckPrompt:
    scorer_id = "selfcheck-prompt"
    version = 1
    needs_document = False

    def __init__(self, backend, prompt_id: str = "selfcheck_support"):
        self.backend, self.prompt = backend, load_prompt(prompt_id)

    @staticmethod
    def roles(settings) -> tuple[str, ...]:
        return ("policy",)

    @classmethod
    def open(cls, settings, models) -> SelfCheckPrompt:
        return cls(models.policy, settings.support_prompt)

    def support(self, prompts: list[list[dict[str, str]]]) -> list[float]:
        if not prompts:
            return []
        if isinstance(self.backend, OptionLogprobs):  # backends without logprobs: read the reply instead
            yes_no = self.backend.option_logprobs(prompts, ["Yes", "No"])
            return [1.0 / (1.0 + math.exp(no - yes)) for yes, no in yes_no]
        requests = [
            ChatRequest(request_id=f"support/{i}", messages=p, temperature=0.0, max_tokens=4)
            for i, p in enumerate(prompts)
        ]
        return [read_yes_no(r.completions[0].text) for r in self.backend.generate(requests)]

    def score(self, items: Sequence[ScoreInput]) -> list[ScoreResult]:
        sentences = [split_sentences(item.reference) for item in items]
        prompts, where = [], []
        for i, item in enumerate(items):
            for j, sentence in enumerate(sentences[i]):
                for k, sample in enumerate(item.samples):
                    if has_text(sample):
                        prompts.append(self.prompt.messages(context=sample, sentence=sentence))
                        where.append((i, j, k))
        grids = [np.zeros((len(s), len(item.samples))) for s, item in zip(sentences, items, strict=True)]
        for (i, j, k), p in zip(where, self.support(prompts), strict=True):
            grids[i][j, k] = p
        out = []
        for item, grid in zip(items, grids, strict=True):
            per_sample = grid.mean(axis=0).tolist() if grid.size else [0.0] * len(item.samples)
            by_sentence = grid.mean(axis=1).tolist() if grid.shape[1] else []
            details = {"sentences": grid.shape[0], "sentence_support": [round(v, 6) for v in by_sentence]}
            out.append(result(per_sample, item, details))
        return out
