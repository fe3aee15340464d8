"""Generation backends behind one protocol (see base.py). `hf` (transformers) is the CPU default."""

from selftrain_core.backends.base import Backend, ChatRequest, ChatResult, Completion

__all__ = ["Backend", "ChatRequest", "ChatResult", "Completion"]
