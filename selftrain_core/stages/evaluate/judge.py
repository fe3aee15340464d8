"""Pairwise LLM judge, base vs trained, asked in both orders (what its replies mean, and the outcome and statistics
they give: verdicts.py).

Verdicts are cached on disk by (judge fingerprint, prompt hash, scoring and generation settings, question,
reference, answers): re-running an evaluation, or evaluating a new checkpoint whose answers repeat, asks the judge
nothing twice. Identical answers are a tie without asking. The cache holds the judge's raw reply, never a parsed label:
verdicts are parsed on every read, so a parser fix reaches old entries, and the raw replies go into the rows (the
`judge` table) for a reader to audit.

Two ways to read a verdict (`evaluate.judge.scoring`):

- generate (any backend): the judge writes a reply to `judge_pairwise`, which asks for a final line
  `Verdict: A|B|tie`, read by `parse_verdict`.
- probabilities (backends with `option_logprobs`: hf): `judge_pairwise_label` asks for one word, A, B or tie,
  and the verdict is the option the judge's next token makes most likely (no sampling; invalid only for NaN). Its
  "raw reply" is the scores themselves, `logprobs A=-0.1054 B=-2.3026 tie=-4.0010`, which `parse_verdict` reads
  back (argmax; equal maxima are a tie), so cached entries and rows stay auditable like generated replies. The
  hf backend scores only an option's first token, hence the one-word prompt: after `judge_pairwise` every option
  would start with "Verdict". The vLLM and OpenAI-compatible backends return only the sampled tokens' logprobs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from selftrain_core.backends.base import ChatRequest, OptionLogprobs
from selftrain_core.errors import ConfigError
from selftrain_core.hashing import cache_dir, stable_hash
from selftrain_core.prompts import load_prompt
from selftrain_core.stages.evaluate.verdicts import OPTIONS, Comparison, logprobs_reply, outcome

PROMPT_ID = "judge_pairwise"  # scoring "generate": ends with a line `Verdict: A|B|tie`
LABEL_PROMPT_ID = "judge_pairwise_label"  # scoring "probabilities": a one-word reply, A, B or tie


def prompt_id(scoring: str) -> str:
    """The judge's prompt template for a scoring ("generate" or "probabilities")."""
    return LABEL_PROMPT_ID if scoring == "probabilities" else PROMPT_ID


class VerdictCache:
    """One small JSON file per verdict under the selftrain cache (atomic writes; safe across processes)."""

    def __init__(self, namespace: str, root: Path | None = None):
        self.folder = (root or cache_dir()) / "judge" / namespace
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str) -> dict[str, str] | None:
        path = self._path(key)
        return json.loads(path.read_text()) if path.is_file() else None

    def put(self, key: str, value: dict[str, str]) -> None:
        tmp = self.folder / f".tmp-{key}-{os.getpid()}"
        tmp.write_text(json.dumps(value))
        os.replace(tmp, self._path(key))


class PairwiseJudge:
    """Asks a judge (opened by `backend_factory` only when a verdict is not cached) about both orders.

    scoring "generate" reads the verdict line of a generated reply; "probabilities" scores the options A, B and
    tie from the judge's next-token probabilities, which needs a backend with `option_logprobs` (hf).
    """

    def __init__(
        self,
        backend_factory: Callable[[], Any],
        fingerprint: str,
        max_new_tokens: int = 8,
        cache=None,
        scoring: str = "generate",
    ):
        if scoring not in ("generate", "probabilities"):
            raise ConfigError(f"evaluate.judge.scoring: {scoring!r} is neither 'generate' nor 'probabilities'")
        self.prompt, self.scoring = load_prompt(prompt_id(scoring)), scoring
        self.max_new_tokens = max_new_tokens
        self._factory, self._backend = backend_factory, None
        # generate keeps its original namespace (caches from before the setting stay valid); probabilities has its
        # own prompt hash, the scoring, and no generation settings
        settings = [max_new_tokens] if scoring == "generate" else [scoring]
        namespace = stable_hash([fingerprint, self.prompt.sha256, *settings], 16)
        self.cache = cache or VerdictCache(namespace)
        self.asked = 0  # verdicts asked in this run (the rest came from the cache)

    def _prompt(self, c: Comparison, first: str, second: str) -> tuple[str, list[dict[str, str]]]:
        values = {"question": c.question, "reference": c.reference, "answer_a": first, "answer_b": second}
        return stable_hash(values, 24), self.prompt.messages(**values)

    def _open(self) -> Any:
        if self._backend is None:
            self._backend = self._factory()
            if self.scoring == "probabilities" and not isinstance(self._backend, OptionLogprobs):
                raise ConfigError(
                    f"evaluate.judge.scoring: 'probabilities' needs a backend that scores options (hf); the judge's "
                    f"backend {type(self._backend).__name__} does not. Set evaluate.judge.scoring to 'generate' "
                    "or evaluate.judge.backend to 'hf'."
                )
        return self._backend

    def _ask(self, prompts: dict[str, list[dict[str, str]]]) -> dict[str, str]:
        """Raw replies by cache key: generated text, or `logprobs A=.. B=.. tie=..`."""
        backend = self._open()
        if self.scoring == "probabilities":
            scores = backend.option_logprobs(list(prompts.values()), list(OPTIONS))
            return {key: logprobs_reply(s) for key, s in zip(prompts, scores, strict=True)}
        requests = [
            ChatRequest(request_id=k, messages=m, temperature=0.0, max_tokens=self.max_new_tokens, logprobs=False)
            for k, m in prompts.items()
        ]
        return {result.request_id: result.completions[0].text for result in backend.generate(requests)}

    def verdicts(self, comparisons: Sequence[Comparison]) -> list[dict[str, Any]]:
        """Per comparison: the verdicts in both orders, the judge's raw replies, and the outcome.

        Row keys: question_id, base_first and trained_first ('A', 'B', 'tie', 'invalid', or 'same' for identical
        answers, which are not asked), base_first_raw and trained_first_raw (the replies, or the option scores
        `logprobs A=.. B=.. tie=..`; '' when not asked), outcome ('trained', 'base' or 'tie'). The cache keeps only
        raw replies and every read parses them again, so a fixed parser also corrects verdicts cached before the
        fix, and a reader can audit each verdict.
        """
        jobs = []  # (comparison index, order, key, prompt)
        for i, c in enumerate(comparisons):
            if c.base.strip() != c.trained.strip():
                jobs.append((i, "base_first", *self._prompt(c, c.base, c.trained)))
                jobs.append((i, "trained_first", *self._prompt(c, c.trained, c.base)))
        raws = {key: entry["raw"] for _, _, key, _ in jobs if (entry := self.cache.get(key)) is not None}
        missing = {key: prompt for _, _, key, prompt in jobs if key not in raws}
        if missing:
            for key, raw in self._ask(missing).items():
                raws[key] = raw
                self.cache.put(key, {"raw": raw})
            self.asked += len(missing)
        found: dict[int, dict[str, str]] = {}
        for i, order, key, _ in jobs:
            found.setdefault(i, {})[order] = raws[key]
        return [outcome(c, found.get(i)) for i, c in enumerate(comparisons)]
