"""Generation backends behind one protocol (see base.py): `hf` (transformers, the CPU default), `vllm` (the offline
engine in a worker process of its own environment, vllm_engine.py) and `openai` (any OpenAI-compatible server,
openai_compat.py). loading.open_backend opens the one a stage's config names."""

from selftrain_core.backends.base import Backend, ChatRequest, ChatResult, Completion

__all__ = ["Backend", "ChatRequest", "ChatResult", "Completion"]
