"""Where a stage's generations come from: the local `hf` backend or an OpenAI-compatible server.

A server section holds connection settings only. What identifies the results, the served model's name and the
server's host, enters artifact keys through the model fingerprint `openai:<host>/<model>` (see
backends/served.py), the way a local model enters through its weights hash; so the URL's port and path, the key,
concurrency, retries, timeouts and prices stay out of keys. The API key itself is never in a config: only the
name of the environment variable that holds it.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from selftrain_core.config_base import RUNTIME, StrictModel


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


def server_field(stage: str):
    """The `server` field of a stage section: connection settings, so kept out of keys (see module docstring)."""
    return Field(
        None,
        description=f"The OpenAI-compatible server when {stage}.backend is 'openai'.",
        json_schema_extra=RUNTIME,
    )


def check_backend(section: str, backend: str, server: OpenAIServerConfig | None, model: str | None = None) -> None:
    """A server exactly when the backend is 'openai'; a local model name only for a local backend (hf, vllm)."""
    if backend == "openai" and server is None:
        raise ValueError(f"{section}.backend is 'openai': set {section}.server (base_url and model at least)")
    if backend != "openai" and server is not None:
        raise ValueError(
            f"{section}.server is set but {section}.backend is {backend!r}; set backend: openai or drop server"
        )
    if backend == "openai" and model is not None:
        raise ValueError(
            f"{section}.model names a local or hub model for the hf backend; with backend 'openai' name the served "
            f"model in {section}.server.model"
        )
