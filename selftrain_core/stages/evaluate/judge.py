"""Pairwise LLM judge, base vs trained, asked in both orders.

A model wins a question only when the judge prefers it in both orders; otherwise the question is a tie, so a
judge's position bias cannot manufacture wins. Reported beside the win rates: the position-flip rate (of the
questions with two decisive verdicts, the share where swapping the order swapped the preferred model: the judge
followed the position, not the answer), the share of decisive verdicts for the longer answer (length bias), and
unparsable verdicts.

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
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selftrain_core.backends.base import ChatRequest, OptionLogprobs
from selftrain_core.errors import ConfigError
from selftrain_core.hashing import cache_dir, stable_hash
from selftrain_core.prompts import load_prompt

PROMPT_ID = "judge_pairwise"  # scoring "generate": ends with a line `Verdict: A|B|tie`
LABEL_PROMPT_ID = "judge_pairwise_label"  # scoring "probabilities": a one-word reply, A, B or tie
OPTIONS = ("A", "B", "tie")


def prompt_id(scoring: str) -> str:
    """The judge's prompt template for a scoring ("generate" or "probabilities")."""
    return LABEL_PROMPT_ID if scoring == "probabilities" else PROMPT_ID


_LABEL = r"[\[(]?(a|b|tie)[\])]?[.!]?"  # one label, maybe bracketed, maybe with a full stop
_VALUE = re.compile(rf"(?:answer\s*:?\s*)?{_LABEL}", re.IGNORECASE)  # "B", "Answer B", "Answer: B", "tie."
_VERDICT_LINE = re.compile(r"(?:final\s+|my\s+)?verdict\b\s*(?:[:=\-\u2013\u2014]|is\b)?\s*(.*)", re.IGNORECASE)
_TIE_SENTENCE = re.compile(r"it(?:'s|\u2019s|\s+is)\s+a\s+tie[.!]?", re.IGNORECASE)
_AFTER_COLON = re.compile(rf"[:\uff1a]\s*{_LABEL}$", re.IGNORECASE)  # "..., a hard one: B", "Réponse : B"
_LOGPROBS = re.compile(r"logprobs A=(\S+) B=(\S+) tie=(\S+)")


def _label(found: re.Match[str] | None) -> str:
    if found is None:
        return "invalid"
    word = found.group(1).lower()
    return "tie" if word == "tie" else word.upper()


def logprobs_reply(scores: Sequence[float]) -> str:
    """The stored "reply" of a verdict scored from option probabilities: `logprobs A=.. B=.. tie=..` (4 decimals)."""
    return "logprobs " + " ".join(f"{option}={score:.4f}" for option, score in zip(OPTIONS, scores, strict=True))


def parse_logprobs(text: str) -> str | None:
    """The most probable option of a `logprobs_reply` ('tie' when the best scores are equal, 'invalid' for NaN);
    None when the text is not one."""
    found = _LOGPROBS.fullmatch(text.strip())
    if found is None:
        return None
    try:
        scores = dict(zip(OPTIONS, map(float, found.groups()), strict=True))
    except ValueError:
        return "invalid"
    if any(math.isnan(score) for score in scores.values()):
        return "invalid"
    best = [option for option, score in scores.items() if score == max(scores.values())]
    return best[0] if len(best) == 1 else "tie"


def parse_verdict(text: str) -> str:
    """'A', 'B', 'tie' or 'invalid', read conservatively from a judge's reply.

    A stored option scoring (`logprobs A=.. B=.. tie=..`, scoring "probabilities") is read by `parse_logprobs`.

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
    if (scored := parse_logprobs(text)) is not None:
        return scored
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
        requests = [ChatRequest(k, m, 1, 0.0, 1.0, self.max_new_tokens, 0, False) for k, m in prompts.items()]
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
