"""The backend protocol: a batch of chat requests, each asking for n samples, in; texts with logprobs out.

A sample is identified by (request, seed, sample index): a backend must give the same completions for the same
request and seed, so a resumed stage and a re-run agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from selftrain_core.backends.usage import Usage


@dataclass(frozen=True)
class ChatRequest:
    request_id: str
    messages: list[dict[str, str]]
    n: int = 1
    temperature: float = 0.0  # 0 means greedy
    top_p: float = 1.0
    max_tokens: int = 64
    seed: int = 0
    logprobs: bool = True

    def sampling_key(self) -> tuple:
        """Requests with equal keys can share one generate call."""
        return (self.n, self.temperature, self.top_p, self.max_tokens)


@dataclass
class Completion:
    text: str
    token_logprobs: list[float] = field(default_factory=list)
    finish_reason: str = "stop"  # "stop" (end of turn) or "length" (hit max_tokens)
    token_ids: list[int] = field(default_factory=list)

    @property
    def n_tokens(self) -> int:
        return len(self.token_logprobs)


@dataclass
class ChatResult:
    request_id: str
    completions: list[Completion]
    prompt_tokens: int = 0  # as processed (or billed, for a server: once per HTTP request)
    completion_tokens: int = 0


class Backend(Protocol):
    name: str
    usage: Usage  # what this backend generated so far (backends/usage.py)

    def generate(self, requests: Sequence[ChatRequest]) -> list[ChatResult]:
        """Results in the order of `requests`."""
        ...

    def close(self) -> None:
        """Release what the backend holds (a model, an engine process, connections); generate no more after."""
        ...


@runtime_checkable
class OptionLogprobs(Protocol):
    """A backend that can score how likely a reply starts with each of a few options (e.g. Yes / No)."""

    def option_logprobs(self, prompts: Sequence[list[dict[str, str]]], options: Sequence[str]) -> list[list[float]]: ...
