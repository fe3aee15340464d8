"""What can go wrong talking to a generation server, split by who can fix it.

A `ServerError` is the user's to fix (a wrong key, model name or context size): the stage stops and, like every
SelftrainError, leaves no artifact behind. `ServerUnavailableError` is transient (the server is down, overloaded or
slow past every retry): it is deliberately not a SelftrainError, so a sharded stage keeps its finished shards and a
rerun resumes where it stopped.
"""

from __future__ import annotations

from selftrain_core.errors import SelftrainError


class ServerError(SelftrainError):
    """An OpenAI-compatible server refused a request for a reason the configuration must change."""


class ServerAuthError(ServerError):
    """401/403: the server does not accept the API key (or none was sent)."""


class ServedModelNotFoundError(ServerError):
    """The server does not serve the configured model name."""


class PromptTooLongError(ServerError):
    """A prompt (plus max_tokens, for a server) does not fit the model's context window (a server's or vLLM's)."""


class EmptyResponseError(ServerError):
    """The server answered with no choices (or fewer than the n asked for)."""


class RequestRejectedError(ServerError):
    """Any other 4xx: the server rejected the request as malformed."""


class ServerUnavailableError(RuntimeError):
    """The server could not be reached or kept failing (connection, timeout, 429, 5xx) after every retry."""
