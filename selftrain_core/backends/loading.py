"""Open the backend a stage's config names, on a resolved model (optionally with a LoRA adapter)."""

from __future__ import annotations

from collections.abc import Callable

from selftrain_core.backends.base import Backend
from selftrain_core.errors import ConfigError
from selftrain_core.models.resolve import ResolvedModel


def open_backend(
    backend: str,
    model: ResolvedModel,
    dtype: str = "float32",
    device: str = "auto",
    batch_size: int = 8,
    adapter_path: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Backend:
    if backend == "hf":
        from selftrain_core.backends.hf import HFBackend
        from selftrain_core.models.loading import load_causal_lm, load_tokenizer

        lm = load_causal_lm(model, dtype=dtype, device=device, adapter_path=adapter_path)
        return HFBackend(lm, load_tokenizer(model), batch_size=batch_size, progress=progress)
    raise ConfigError(f"unknown backend {backend!r}; backends: hf")
