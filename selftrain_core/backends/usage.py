"""Token usage of a backend's generations, and their cost when the server's prices are configured.

Each backend counts what it generated (`backend.usage`); a stage records it in its manifest under `usage`. It
counts this run's generations only: shards a resumed stage found finished were paid for by the earlier run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from selftrain_core.backends.chat import ChatResult
from selftrain_core.backends.config import OpenAIServerConfig


@dataclass
class Usage:
    requests: int = 0  # chat requests (one asking for n samples counts once)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    http_requests: int = 0  # servers only: HTTP calls including retries and fan-out
    retries: int = 0

    def add(self, results: Sequence[ChatResult]) -> None:
        self.requests += len(results)
        self.prompt_tokens += sum(r.prompt_tokens for r in results)
        self.completion_tokens += sum(r.completion_tokens for r in results)

    def merge(self, other: Usage) -> None:
        """Add another backend's counts (e.g. each Ray actor's) to these."""
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


def usage_entry(backend_name: str, model: str, usage: Usage | None, server: OpenAIServerConfig | None) -> dict:
    """The manifest's `usage` entry: backend, model, tokens, and for a server its calls, retries and cost."""
    usage = usage or Usage()
    entry: dict[str, Any] = {
        "backend": backend_name,
        "model": model,
        "requests": usage.requests,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
    }
    if server is not None:
        prompt_price, completion_price = server.cost_per_1k_prompt_tokens, server.cost_per_1k_completion_tokens
        cost = None
        if prompt_price is not None and completion_price is not None:
            cost = round(
                usage.prompt_tokens / 1000 * prompt_price + usage.completion_tokens / 1000 * completion_price, 6
            )
        entry.update(
            http_requests=usage.http_requests,
            retries=usage.retries,
            cost=cost,
            cost_per_1k_prompt_tokens=prompt_price,
            cost_per_1k_completion_tokens=completion_price,
        )
    return entry
