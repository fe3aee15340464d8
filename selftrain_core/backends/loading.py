"""Open the backend a stage's config names: `hf` or `vllm` on a resolved model (optionally with a LoRA adapter;
vllm sized by the stage's engine settings), or `openai` on a server (checked before any work: reachable, key
accepted, model served)."""

from __future__ import annotations

from collections.abc import Callable

from selftrain_core.backends.base import Backend
from selftrain_core.backends.config import OpenAIServerConfig, VLLMEngineConfig
from selftrain_core.backends.served import ServedModel, served_model
from selftrain_core.errors import ConfigError
from selftrain_core.models.resolve import ResolvedModel, resolve_model


def stage_model(
    backend: str, server: OpenAIServerConfig | None, name: str, revision: str | None = None
) -> ResolvedModel | ServedModel:
    """The model a stage generates with: the served one for 'openai', else `name` resolved to local files."""
    if backend == "openai":
        if server is None:
            raise ConfigError("backend 'openai' needs a server section (base_url, model)")
        return served_model(server)
    return resolve_model(name, revision)


def open_backend(
    backend: str,
    model: ResolvedModel | ServedModel | None,
    dtype: str = "float32",
    device: str = "auto",
    batch_size: int = 8,
    adapter_path: str | None = None,
    progress: Callable[[int], None] | None = None,
    server: OpenAIServerConfig | None = None,
    engine: VLLMEngineConfig | None = None,
) -> Backend:
    if backend == "hf":
        from selftrain_core.backends.hf import HFBackend
        from selftrain_core.models.loading import load_causal_lm, load_tokenizer

        lm = load_causal_lm(model, dtype=dtype, device=device, adapter_path=adapter_path)
        return HFBackend(lm, load_tokenizer(model), batch_size=batch_size, progress=progress)
    if backend == "vllm":
        from selftrain_core.backends.vllm_engine import VLLMBackend

        return VLLMBackend(model.path, dtype=dtype, adapter_path=adapter_path, engine=engine, progress=progress)
    if backend == "openai":
        from selftrain_core.backends.openai_compat import OpenAICompatBackend

        if server is None:
            raise ConfigError("backend 'openai' needs a server section (base_url, model)")
        if adapter_path is not None:
            raise ConfigError(
                "the openai backend samples the served model and cannot apply a local LoRA adapter "
                f"({adapter_path}); serve the adapter under its own name and set server.model to it"
            )
        opened = OpenAICompatBackend(server, progress=progress)
        opened.check()
        return opened
    raise ConfigError(f"unknown backend {backend!r}; backends: hf, vllm, openai")
