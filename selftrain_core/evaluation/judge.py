"""Pairwise LLM judge, base vs trained, asked in both orders.

A model wins a question only when the judge prefers it in both orders; otherwise the question is a tie, so a
judge's position bias cannot manufacture wins. Reported beside the win rates: the position-flip rate (of the
questions with two decisive verdicts, the share where swapping the order swapped the preferred model: the judge
followed the position, not the answer), the share of decisive verdicts for the longer answer (length bias), and
unparsable verdicts.

Verdicts are cached on disk by (judge fingerprint, prompt hash, generation settings, question, reference,
answers): re-running an evaluation, or evaluating a new checkpoint whose answers repeat, asks the judge nothing
twice. Identical answers are a tie without asking. The cache holds the judge's raw reply, never a parsed label:
verdicts are parsed on every read, so a parser fix reaches old entries, and the raw replies go into the rows (the
`judge` table) for a reader to audit.

The prompt asks for a final line `Verdict: A|B|tie`, read by `parse_verdict`. Verdicts are not scored from option
probabilities: the hf backend's `option_logprobs` scores only a reply's first token, which is "Verdict" for every
option, and the vLLM and OpenAI-compatible backends return only the sampled tokens' logprobs.
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

_LABEL = r"[\[(]?(a|b|tie)[\])]?[.!]?"  # one label, maybe bracketed, maybe with a full stop
_VALUE = re.compile(rf"(?:answer\s*:?\s*)?{_LABEL}", re.IGNORECASE)  # "B", "Answer B", "Answer: B", "tie."
_VERDICT_LINE = re.compile(r"(?:final\s+|my\s+)?verdict\b\s*(?:[:=\-\u2013\u2014]|is\b)?\s*(.*)", re.IGNORECASE)
_TIE_SENTENCE = re.compile(r"it(?:'s|\u2019s|\s+is)\s+a\s+tie[.!]?", re.IGNORECASE)
_AFTER_COLON = re.compile(rf"[:\uff1a]\s*{_LABEL}$", re.IGNORECASE)  # "..., a hard one: B", "Réponse : B"


def _label(found: re.Match[str] | None) -> str:
    if found is None:
        return "invalid"
    word = found.group(1).lower()
    return "tie" if word == "tie" else word.upper()


def parse_verdict(text: str) -> str:
    """'A', 'B', 'tie' or 'invalid', read conservatively from a judge's reply.

    Markdown emphasis, code ticks, quotes and heading marks are dropped first. Then, in order:

    1. A line that starts with "Verdict" (the prompt asks for `Verdict: A|B|tie`; also "**Verdict:** **B**",
       "Final verdict - tie", "Verdict: Answer A"): the last such line decides, and its value must be one label
       and nothing else; "Verdict: A or B" is invalid rather than a guess.
    2. A reply that is only a label: "A", "b.", "Tie", "Answer B", "Answer: **B**"; or exactly "It is a tie".
    3. A label standing alone after a colon at the very end of the reply: "This is a hard one: B",
       "Réponse : B" (this is how replies in other languages are read).

    Anything else is invalid: a label inside a sentence is never a verdict ("Both A and B are wrong", "Answer A is
    better", "La respuesta es B"), so the article "a" cannot pass for answer A. An invalid verdict counts against
    neither model and is reported (judge_statistics' invalid_verdicts).
    """
    text = re.sub(r"[*_`\"]", "", text)
    lines = [re.sub(r"^\s*#+\s*", "", line).strip() for line in text.splitlines()]
    verdict_lines = [found for line in lines if (found := _VERDICT_LINE.fullmatch(line))]
    if verdict_lines:
        return _label(_VALUE.fullmatch(verdict_lines[-1].group(1).strip()))
    reply = " ".join(line for line in lines if line)
    if _TIE_SENTENCE.fullmatch(reply):
        return "tie"
    return _label(_VALUE.fullmatch(reply) or _AFTER_COLON.search(reply))


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
        """Per comparison: the verdicts in both orders, the judge's raw replies, and the outcome.

        Row keys: question_id, base_first and trained_first ('A', 'B', 'tie', 'invalid', or 'same' for identical
        answers, which are not asked), base_first_raw and trained_first_raw (the replies; '' when not asked),
        outcome ('trained', 'base' or 'tie'). The cache keeps only raw replies and every read parses them again,
        so a fixed parser also corrects verdicts cached before the fix, and a reader can audit each verdict.
        """
        jobs = []  # (comparison index, order, key, request)
        for i, c in enumerate(comparisons):
            if c.base.strip() != c.trained.strip():
                jobs.append((i, "base_first", *self._request(c, c.base, c.trained)))
                jobs.append((i, "trained_first", *self._request(c, c.trained, c.base)))
        raws = {key: entry["raw"] for _, _, key, _ in jobs if (entry := self.cache.get(key)) is not None}
        missing = {key: request for _, _, key, request in jobs if key not in raws}
        if missing:
            if self._backend is None:
                self._backend = self._factory()
            for result in self._backend.generate(list(missing.values())):
                raws[result.request_id] = result.completions[0].text
                self.cache.put(result.request_id, {"raw": raws[result.request_id]})
            self.asked += len(missing)
        found: dict[int, dict[str, str]] = {}
        for i, order, key, _ in jobs:
            found.setdefault(i, {})[order] = raws[key]
        return [outcome(c, found.get(i)) for i, c in enumerate(comparisons)]


def preferred(verdict: str, first: str, second: str) -> str | None:
    return {"A": first, "B": second}.get(verdict)


def outcome(c: Comparison, raws: dict[str, str] | None) -> dict[str, Any]:
    """One row of `PairwiseJudge.verdicts` from the raw replies in both orders (None: identical answers)."""
    if raws is None:
        verdicts, raws = {"base_first": "same", "trained_first": "same"}, {"base_first": "", "trained_first": ""}
    else:
        verdicts = {order: parse_verdict(raw) for order, raw in raws.items()}
    one = preferred(verdicts["base_first"], "base", "trained")
    two = preferred(verdicts["trained_first"], "trained", "base")
    return {
        "question_id": c.question_id,
        "base_first": verdicts["base_first"],
        "trained_first": verdicts["trained_first"],
        "base_first_raw": raws["base_first"],
        "trained_first_raw": raws["trained_first"],
        "outcome": one if one is not None and one == two else "tie",
    }


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
