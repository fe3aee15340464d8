"""Inner-knowledge explicitation (SKE-Learn: Huang et al., "Empowering Self-Learning of LLMs: Inner Knowledge
Explicitation as a Catalyst", AAAI 2025): the model first writes the knowledge its answer rests on, then answers.

With `answers.explicitation` on, the answers stage samples K such completions per question without the document
(role `explicit`, prompt `answers.explicitation_prompt`, up to `answers.explicitation_max_new_tokens` tokens) into
the columns `explicit`, `explicit_logprobs` and `explicit_finish`; off, the stage's schema, requests and keys are
what they were. The score stage verifies each explicitation against the document (score/support.py) and the
`inner-knowledge` curate strategy trains on the verified ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from selftrain_core.backends.chat import ChatRequest
from selftrain_core.hashing import derive_seed
from selftrain_core.prompts import load_prompt

ROLE = "explicit"
COLUMNS = [
    (ROLE, pa.list_(pa.string())),
    (f"{ROLE}_logprobs", pa.list_(pa.list_(pa.float32()))),
    (f"{ROLE}_finish", pa.list_(pa.string())),
]
_ANSWER = re.compile(r"(?:^|\s)\**answer\**\s*:\**", re.IGNORECASE)  # also markdown: **Answer:** or **Answer**:
_KNOWLEDGE = re.compile(r"^\s*\**knowledge\**\s*:\**\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Explicitation:
    knowledge: str
    answer: str
    parsed: bool  # the completion had an "Answer:" marker; without one the whole text counts as knowledge


def split_explicitation(text: str) -> Explicitation:
    """A completion's knowledge and answer: the answer follows the last "Answer:" marker, the knowledge is what
    precedes it (a leading "Knowledge:" removed). No marker: knowledge = the whole text, answer empty."""
    markers = list(_ANSWER.finditer(text))
    if not markers:
        return Explicitation(_KNOWLEDGE.sub("", text).strip(), "", False)
    last = markers[-1]
    return Explicitation(_KNOWLEDGE.sub("", text[: last.start()]).strip(), text[last.end() :].strip(), True)


def explicit_request(cfg, question: dict[str, Any]) -> ChatRequest:
    """K explicitation samples for one question, no document; the seed derives from (run seed, question, role)."""
    a = cfg.answers
    return ChatRequest(
        request_id=f"{question['question_id']}/{ROLE}",
        messages=load_prompt(a.explicitation_prompt).messages(question=question["question"]),
        n=a.num_samples,
        temperature=a.temperature,
        top_p=a.top_p,
        max_tokens=a.explicitation_max_new_tokens,
        seed=derive_seed(cfg.seed, "answers", question["question_id"], ROLE),
    )
