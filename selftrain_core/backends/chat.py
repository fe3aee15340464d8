"""What goes into a backend and what comes out: chat requests, each asking for n samples; texts with logprobs.

A leaf module (it imports nothing of selftrain), so the backend protocol (base.py) and its usage counts (usage.py)
can both import it without importing each other's module.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class ChatRequest:
    request_id: str
    messages: list[dict[str, str]]
    n: int = 1
    temperature: float = 0.0  # 0 means greedy
    top_p: float = 1.0
    max_tokens: int = 64
    seed: int = 0
    logprobs: bool = True


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
    prompt_tokens: int = 0  # the prompt's tokens, once per request (or as billed: a server's per HTTP request)
    completion_tokens: int = 0
