"""What the openai client's exceptions mean for the openai backend (openai_compat.py): whether to retry, after how
long, and which ServerError names what the user must change. Every message has the API key scrubbed out.

- Retried (by the backend's own loop): 429, 408, 5xx, timeouts and lost connections, waiting at least the server's
  Retry-After.
- User errors: a refused key (401/403: names where the key was read from), a model the server does not serve (404, or
  a message saying so: lists the served names with a "did you mean"), a prompt longer than the model's window (an
  error, not a drop: a chunk that does not fit is a config that does not fit the model, and dropping it would quietly
  bias the data toward short chunks), any other rejected request.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable

import openai

from selftrain_core.backends.api_keys import key_source
from selftrain_core.backends.chat import ChatRequest
from selftrain_core.backends.config import OpenAIServerConfig
from selftrain_core.backends.errors import (
    PromptTooLongError,
    RequestRejectedError,
    ServedModelNotFoundError,
    ServerAuthError,
)
from selftrain_core.backends.served import served_model

_CONTEXT = re.compile(r"context (length|window)|context_length|max_model_len|maximum model length|too long", re.I)
_NO_MODEL = re.compile(r"model.*(does not exist|not found|not served)|model_not_found", re.I)
_CODE_PREFIX = re.compile(r"^Error code: \d+ - ")
_KEYLIKE = re.compile(r"\bsk-[A-Za-z0-9_*.\-]{3,}")


def retryable(exc: Exception) -> bool:
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    return isinstance(exc, openai.APIStatusError) and (exc.status_code in (408, 429) or exc.status_code >= 500)


def retry_after(exc: Exception) -> float:
    """The server's Retry-After in seconds (0 when absent, or an HTTP date: our own backoff then)."""
    if not isinstance(exc, openai.APIStatusError):
        return 0.0
    try:
        return float(exc.response.headers.get("retry-after", 0))
    except ValueError:
        return 0.0


class ServerErrors:
    """Messages and errors about one server; `served()` lists the model names it serves ([] when it cannot say)."""

    def __init__(self, server: OpenAIServerConfig, key: str | None, served: Callable[[], list[str]]):
        self.server, self.key, self._served = server, key, served
        self.model = served_model(server)

    def scrub(self, text: str) -> str:
        if self.key:
            text = text.replace(self.key, "<api key>")
        return _KEYLIKE.sub("sk-***", text)

    def describe(self, exc: Exception) -> str:
        if isinstance(exc, openai.APIStatusError):  # the client's message repeats the code: "Error code: 404 - ..."
            return self.scrub(f"HTTP {exc.status_code}: {_CODE_PREFIX.sub('', exc.message)}")
        cause = f" ({type(exc.__cause__).__name__}: {exc.__cause__})" if exc.__cause__ is not None else ""
        return self.scrub(f"{type(exc).__name__}: {str(exc).rstrip('.')}{cause}")

    def auth(self, exc: openai.APIStatusError) -> ServerAuthError:
        source = key_source(self.server)
        unset = "empty" if self.server.api_key_secret else "not set"
        fix = f"no key was sent: {source} is {unset}" if self.key is None else f"check the key in {source}"
        return ServerAuthError(f"{self.model.url} refused the request ({self.describe(exc)}): {fix}")

    def not_served(self, detail: str) -> ServedModelNotFoundError:
        served = self._served()
        close = difflib.get_close_matches(self.model.name, served, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        listing = f"; it serves {served}" if served else ""
        return ServedModelNotFoundError(
            f"{self.model.url} does not serve model {self.model.name!r} ({detail}){listing}.{hint} "
            "Set server.model to a served name."
        )

    def rejected(self, exc: openai.APIStatusError, request: ChatRequest, n: int) -> Exception:
        """The user error for a chat request the server refused (not retryable)."""
        status, detail = exc.status_code, self.describe(exc)
        if status in (401, 403):
            return self.auth(exc)
        if status == 404 or _NO_MODEL.search(exc.message):
            return self.not_served(detail)
        if _CONTEXT.search(exc.message):
            return PromptTooLongError(
                f"request {request.request_id}: the prompt plus max_tokens={request.max_tokens} does not fit "
                f"{self.model.name!r}'s context window ({detail}). Shorten chunks (chunk.max_tokens), lower the "
                "stage's max_new_tokens, or serve a model with a longer context."
            )
        hint = " If the server does not support n > 1, set server.supports_n: false." if n > 1 else ""
        return RequestRejectedError(f"{self.model.url} rejected request {request.request_id} ({detail}).{hint}")
