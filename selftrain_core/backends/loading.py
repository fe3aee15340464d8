"""Open the backend a step's generation settings (settings.py) name: `hf` or `vllm` on a resolved model (optionally
with a LoRA adapter; vllm sized by the step's engine settings), or `openai` on a server (checked before any work:
reachable, key accepted, model served)."""

from __future__ import annotations

from collections.abc import Callable

from selftrain_core.backends.base import Backend
from selftrain_core.backends.served import ServedModel
from selftrain_core.backends.settings import GenerationSettings
from selftrain_core.models.resolve import ResolvedModel


def open_backend(
    settings: GenerationSettings,
    *,
    model: ResolvedModel | ServedModel | None = None,
    progress: Callable[[int], None] | None = None,
) -> Backend:
    """The backend `settings` name. `model`: the model to open when the caller has resolved it already (a stage
    resolves it once for its manifest) or opens another checkpoint (a trained arm's full weights); None:
    `settings.resolve()`; a server serves its own. `progress(n)` is called as n more requests are done."""
    if settings.backend == "openai":
        from selftrain_core.backends.openai_compat import OpenAICompatBackend

        opened = OpenAICompatBackend(settings.server, progress=progress)
        opened.check()
        return opened
    model = settings.resolve() if model is None else model
    if settings.backend == "hf":
        from selftrain_core.backends.hf import HFBackend
        from selftrain_core.models.loading import load_causal_lm, load_tokenizer

        lm = load_causal_lm(model, dtype=settings.dtype, device=settings.device, adapter_path=settings.adapter)
        return HFBackend(lm, load_tokenizer(model), batch_size=settings.batch_size, progress=progress)
    from selftrain_core.backends.vllm_engine import VLLMBackend

    return VLLMBackend(
        model.path, dtype=settings.dtype, adapter_path=settings.adapter, engine=settings.engine, progress=progress
    )
