"""Pairwise LLM judge, base vs trained, asked in both orders.

A model wins a question only when the judge prefers it in both orders; otherwise the question is a tie, so a
judge's position bias cannot manufacture wins. Reported beside the win rates: the position-flip rate (of the
questions with two decisive verdicts, the share where swapping the order swapped the preferred model: the judge
followed the position, not the answer), the share of decisive verdicts for the longer answer (length bias), and
unparsable verdicts.

Verdicts are cached on disk by (judge fingerprint, prompt hash, generation settings, question, reference,
answers): re-running an evaluation, or evaluating a new checkpoint whose answers repeat, asks the judge nothing
twice. Identical answers are a tie without asking.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selftrain_core.backends.base import ChatRequest
from selftrain_core.hashing import cache_dir, stable_hash
from selftrain_core.prompts import load_prompt

PROMPT_ID = "judge_pairwise"
_VERDICT = re.compile(r"\b(tie|a|b)\b", re.IGNORECASE)


def parse_verdict(text: str) -> str:
    """'A', 'B', 'tie' or 'invalid': the first of those words in the reply ('Answer B.', '**A**', 'Tie')."""
    found = _VERDICT.search(text.replace("*", " "))
    if not found:
        return "invalid"
    word = found.group(1).lower()
    return "tie" if word == "tie" else word.upper()


@dataclass(frozen=True)
class Comparison:
    question_id: str
    question: str
    reference: str
    base: str
    trained: str


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
    def __init__(self, backend_factory: Callable[[], Any], fingerprint: str, max_new_tokens: int = 8, cache=None):
        self.prompt = load_prompt(PROMPT_ID)
        self.max_new_tokens = max_new_tokens
        self._factory, self._backend = backend_factory, None
        namespace = stable_hash([fingerprint, self.prompt.sha256, max_new_tokens], 16)
        self.cache = cache or VerdictCache(namespace)
        self.asked = 0  # verdicts generated in this run (the rest came from the cache)

    def _request(self, c: Comparison, first: str, second: str) -> tuple[str, ChatRequest]:
        values = {"question": c.question, "reference": c.reference, "answer_a": first, "answer_b": second}
        key = stable_hash(values, 24)
        return key, ChatRequest(key, self.prompt.messages(**values), 1, 0.0, 1.0, self.max_new_tokens, 0, False)

    def verdicts(self, comparisons: Sequence[Comparison]) -> list[dict[str, Any]]:
        """Per comparison: verdicts in both orders, and the outcome ('trained', 'base' or 'tie')."""
        jobs = []  # (comparison index, order, key, request)
        for i, c in enumerate(comparisons):
            if c.base.strip() != c.trained.strip():
                jobs.append((i, "base_first", *self._request(c, c.base, c.trained)))
                jobs.append((i, "trained_first", *self._request(c, c.trained, c.base)))
        missing = {key: request for _, _, key, request in jobs if self.cache.get(key) is None}
        if missing:
            if self._backend is None:
                self._backend = self._factory()
            for result in self._backend.generate(list(missing.values())):
                text = result.completions[0].text
                self.cache.put(result.request_id, {"raw": text, "verdict": parse_verdict(text)})
            self.asked += len(missing)
        found: dict[int, dict[str, str]] = {}
        for i, order, key, _ in jobs:
            found.setdefault(i, {})[order] = self.cache.get(key)["verdict"]
        return [outcome(c, found.get(i)) for i, c in enumerate(comparisons)]


def preferred(verdict: str, first: str, second: str) -> str | None:
    return {"A": first, "B": second}.get(verdict)


def outcome(c: Comparison, verdicts: dict[str, str] | None) -> dict[str, Any]:
    if verdicts is None:  # identical answers
        return {"question_id": c.question_id, "base_first": "same", "trained_first": "same", "outcome": "tie"}
    one = preferred(verdicts["base_first"], "base", "trained")
    two = preferred(verdicts["trained_first"], "trained", "base")
    result = one if one is not None and one == two else "tie"
    return {"question_id": c.question_id, **verdicts, "outcome": result}


def judge_statistics(comparisons: Sequence[Comparison], rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Win/tie shares, position-flip rate, length bias and invalid verdicts over the compared questions."""
    n = len(rows)
    both_decisive = flips = decisive = longer = first_position = invalid = 0
    for c, row in zip(comparisons, rows, strict=True):
        if row["base_first"] == "same":
            continue
        picks = []
        for order, (first, second) in (("base_first", ("base", "trained")), ("trained_first", ("trained", "base"))):
            verdict = row[order]
            invalid += verdict == "invalid"
            pick = preferred(verdict, first, second)
            if pick is None:
                continue
            picks.append(pick)
            decisive += 1
            first_position += verdict == "A"
            other = "trained" if pick == "base" else "base"
            longer += len(getattr(c, pick).split()) > len(getattr(c, other).split())
        if len(picks) == 2:
            both_decisive += 1
            flips += picks[0] != picks[1]
    share = lambda k, total: k / total if total else float("nan")  # noqa: E731
    return {
        "questions": n,
        "trained_win": share(sum(r["outcome"] == "trained" for r in rows), n),
        "base_win": share(sum(r["outcome"] == "base" for r in rows), n),
        "tie": share(sum(r["outcome"] == "tie" for r in rows), n),
        "position_flip_rate": share(flips, both_decisive),
        "first_position_rate": share(first_position, decisive),
        "longer_answer_preferred": share(longer, decisive),
        "invalid_verdicts": invalid,
    }
