"""The backend protocol: a batch of chat requests, each asking for n samples, in; texts with logprobs out
(the request and result types live in chat.py and are re-exported here).

A sample is identified by (request, seed, sample index): a backend must give the same completions for the same
request and seed, so a resumed stage and a re-run agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from selftrain_core.backends.chat import ChatRequest, ChatResult, Completion
from selftrain_core.backends.usage import Usage

__all__ = ["Backend", "ChatRequest", "ChatResult", "Completion", "OptionLogprobs"]


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
