"""Deterministic stand-ins for the policy backend, so LLM-based scorers are tested on exact values."""

from __future__ import annotations

from selftrain_core.backends.base import ChatResult, Completion


class ScriptedBackend:
    """Replies with `reply` to every generate request; no option_logprobs (the text-reading fallback)."""

    name = "scripted"

    def __init__(self, reply: str = "A"):
        self.reply, self.prompts = reply, []

    def generate(self, requests):
        self.prompts.extend(r.messages for r in requests)
        return [ChatResult(r.request_id, [Completion(self.reply)]) for r in requests] if requests else []
