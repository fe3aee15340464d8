"""What a pairwise judge's replies mean: a verdict per reply, an outcome per question from both orders, and the
statistics of a judge's verdicts.

A model wins a question only when the judge prefers it in both orders; otherwise the question is a tie, so a
judge's position bias cannot manufacture wins. Reported beside the win rates: the position-flip rate (of the
questions with two decisive verdicts, the share where swapping the order swapped the preferred model: the judge
followed the position, not the answer), the share of decisive verdicts for the longer answer (length bias), and
unparsable verdicts.

A reply is generated text read by `parse_verdict`, or (scoring "probabilities") the option scores themselves,
`logprobs A=-0.1054 B=-2.3026 tie=-4.0010`, which `parse_verdict` reads back (argmax; equal maxima are a tie).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

OPTIONS = ("A", "B", "tie")

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
