"""A model behind an OpenAI-compatible server, as manifests and artifact keys see it.

The server gives no weights hash, so a served model is identified by the server's host and the model name:
`openai:<host>/<model>`. The port and path are left out, so restarting `vllm serve` on another port resumes the
same artifact; the URL recorded in manifests has no user info, query or fragment (where keys tend to hide).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from selftrain_core.backends.config import OpenAIServerConfig


def redact_url(url: str) -> str:
    """scheme://host[:port]/path: without user:password@, ?query or #fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass(frozen=True)
class ServedModel:
    name: str  # as the server serves it
    host: str
    url: str  # redacted base URL

    @property
    def fingerprint(self) -> str:
        return f"openai:{self.host}/{self.name}"

    def manifest_entry(self, role: str) -> dict[str, str | None]:
        return {
            "role": role,
            "name": self.name,
            "fingerprint": self.fingerprint,
            "source": "openai-server",
            "server": self.url,
            "hub_id": None,
        }


def served_model(server: OpenAIServerConfig) -> ServedModel:
    return ServedModel(server.model, urlsplit(server.base_url).hostname or "", redact_url(server.base_url))


def server_settings(server: OpenAIServerConfig) -> dict[str, object]:
    """What a sampling stage keys about its server besides the model fingerprint: how K samples are asked for."""
    return {"model": server.model, "host": served_model(server).host, "supports_n": server.supports_n}


def server_runtime(server: OpenAIServerConfig) -> dict[str, object]:
    """The server's connection settings for a manifest's runtime_config: the URL redacted, never the key."""
    return {
        "server": redact_url(server.base_url),
        "api_key_env": server.api_key_env,
        "api_key_secret": server.api_key_secret,  # the block's name, never its value
        "max_concurrency": server.max_concurrency,
        "max_retries": server.max_retries,
        "timeout_s": server.timeout_s,
    }
