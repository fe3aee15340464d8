"""Which stage failures Prefect retries: those that may pass by themselves, never a user's mistake.

A server that stayed down through the backend's own retries (ServerUnavailableError), a dropped connection or a
timeout is retried after a wait; the answers and questions stages then resume from their finished shards without a
person. A SelftrainError (a wrong setting, a missing file, a refused request) fails at once: retrying it would only
fail again. How often and after what waits: the run config's `retries` section (runtime: no key depends on it).
"""

from __future__ import annotations

from typing import Any

from selftrain_core.backends.errors import ServerUnavailableError
from selftrain_core.errors import SelftrainError

TRANSIENT: tuple[type[BaseException], ...] = (ServerUnavailableError, ConnectionError, TimeoutError)


def failure_of(state: Any) -> BaseException | None:
    """The exception a Failed state holds (None when it holds none)."""
    data = getattr(state, "data", None)
    if isinstance(data, BaseException):
        return data
    try:
        result = state.result(raise_on_failure=False)
    except Exception:  # a result that cannot be read says nothing about the cause: do not retry
        return None
    return result if isinstance(result, BaseException) else None


def is_transient(exc: BaseException | None) -> bool:
    return isinstance(exc, TRANSIENT) and not isinstance(exc, SelftrainError)


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's retry_condition_fn: go on to the retry policy only for a transient failure."""
    return is_transient(failure_of(state))
