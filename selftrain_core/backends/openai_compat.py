"""openai backend: chat completions from any OpenAI-compatible server (OpenAI, `vllm serve`, others).

- Concurrency: up to `max_concurrency` HTTP requests in flight (a thread pool over the client's connection pool);
  results come back in request order whatever order they finish in.
- Retries: our own loop (the client's is off, so every retry is counted and logged): 429, 408, 5xx, timeouts and
  lost connections wait `retry_backoff_s * 2**attempt` (at most 60 s, or the server's Retry-After if longer) with
  jitter, then try again; after `max_retries` the stage stops with ServerUnavailableError, which is transient by
  design (backends/errors.py), so the answers stage keeps its finished shards and a rerun resumes.
- Samples: a request for K samples asks once with n=K and its seed; with `supports_n: false` it fans out into K
  requests of n=1 seeded derive_seed(seed, sample index), so each sample is still (request, seed, sample index).
  A greedy request (temperature 0) asks for one completion and repeats it, as the hf backend does.
- Every call passes `max_tokens` and `seed` explicitly; `logprobs=True` fills Completion.token_logprobs; finish
  reasons other than "length" count as "stop".
- User errors become ServerError subclasses naming what to change (openai_errors.py): a refused key, a model the
  server does not serve (checked against GET /models before any work, and on 404), a prompt longer than the model's
  window, a response with no choices (here), any other rejected request.
- The API key is read when the backend opens, from a Prefect Secret block (`api_key_secret`) or the environment
  variable `api_key_env` (backends/api_keys.py), and is scrubbed from every message this module raises or logs.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any

import openai

from selftrain_core.backends.api_keys import api_key
from selftrain_core.backends.chat import ChatRequest, ChatResult, Completion
from selftrain_core.backends.config import OpenAIServerConfig
from selftrain_core.backends.errors import EmptyResponseError, RequestRejectedError, ServerUnavailableError
from selftrain_core.backends.openai_errors import ServerErrors, retry_after, retryable
from selftrain_core.backends.served import served_model
from selftrain_core.backends.usage import Usage
from selftrain_core.hashing import derive_seed

log = logging.getLogger(__name__)

MAX_WAIT_S = 60.0


class OpenAICompatBackend:
    name = "openai"

    def __init__(
        self,
        server: OpenAIServerConfig,
        progress: Callable[[int], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.server, self.progress, self._sleep = server, progress, sleep
        self.model = served_model(server)
        self._key = api_key(server)
        # The client insists on a key; a local server without auth ignores this placeholder.
        self.client = openai.OpenAI(
            base_url=server.base_url, api_key=self._key or "no-key", max_retries=0, timeout=server.timeout_s
        )
        self.errors = ServerErrors(server, self._key, lambda: self.served_models(quiet=True))
        self._count = threading.Lock()
        self.usage = Usage()

    def close(self) -> None:
        self.client.close()

    def _with_retries(self, call: Callable[[], Any], what: str) -> Any:
        attempts = self.server.max_retries + 1
        for attempt in range(attempts):
            with self._count:
                self.usage.http_requests += 1
            try:
                return call()
            except (openai.APIConnectionError, openai.APIStatusError) as exc:
                if not retryable(exc):
                    raise
                error = exc
            if attempt + 1 == attempts:
                break
            wait_s = min(MAX_WAIT_S, self.server.retry_backoff_s * 2**attempt)
            wait_s = max(wait_s / 2 + random.uniform(0, wait_s / 2), min(retry_after(error), MAX_WAIT_S))
            with self._count:
                self.usage.retries += 1
            log.warning(
                "openai backend: %s: %s; retry %d in %.1f s", what, self.errors.describe(error), attempt + 1, wait_s
            )
            self._sleep(wait_s)
        raise ServerUnavailableError(
            f"openai backend: {what} at {self.model.url} failed {attempts} times; last: {self.errors.describe(error)}. "
            "Is the server up? A sharded stage keeps its finished shards: run it again to resume."
        ) from None

    def served_models(self, quiet: bool = False) -> list[str]:
        """Model names the server lists at GET /models ([] when it has no such endpoint, or when quiet and it fails)."""
        try:
            page = self._with_retries(lambda: self.client.models.list(), "listing models")
        except openai.APIStatusError as exc:
            if quiet or exc.status_code in (404, 405):
                return []
            if exc.status_code in (401, 403):
                raise self.errors.auth(exc) from None
            raise RequestRejectedError(f"{self.model.url} refused GET /models ({self.errors.describe(exc)})") from None
        except ServerUnavailableError:
            if quiet:
                return []
            raise
        return [m.id for m in page.data]

    def check(self) -> None:
        """Before any work: the server answers, accepts the key, and serves the model."""
        served = self.served_models()
        if served and self.model.name not in served:
            raise self.errors.not_served("not in GET /models")

    def _complete(self, request: ChatRequest, n: int, seed: int) -> tuple[list[Completion], int, int]:
        kwargs: dict[str, Any] = {
            "model": self.model.name,
            "messages": request.messages,
            "n": n,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "max_tokens": request.max_tokens,
            "seed": seed,
        }
        if request.logprobs:
            kwargs["logprobs"] = True
        try:
            response = self._with_retries(
                lambda: self.client.chat.completions.create(**kwargs), f"request {request.request_id}"
            )
        except openai.APIStatusError as exc:
            raise self.errors.rejected(exc, request, n) from None
        choices = sorted(response.choices or [], key=lambda c: c.index)
        if len(choices) < n:
            hint = " (it may not support n > 1: set server.supports_n: false)" if n > 1 and choices else ""
            raise EmptyResponseError(
                f"{self.model.url} returned {len(choices)} choices for request {request.request_id} "
                f"(model {self.model.name!r}, n={n}){hint}"
            )
        completions = []
        for choice in choices[:n]:
            content = choice.logprobs.content if choice.logprobs is not None else None
            logprobs = [float(t.logprob) for t in content or []]
            finish = "length" if choice.finish_reason == "length" else "stop"
            completions.append(Completion((choice.message.content or "").strip(), logprobs, finish))
        usage = response.usage
        prompt = usage.prompt_tokens if usage is not None else 0
        generated = usage.completion_tokens if usage is not None else sum(c.n_tokens for c in completions)
        return completions, prompt or 0, generated or 0

    def generate(self, requests: Sequence[ChatRequest]) -> list[ChatResult]:
        calls = []  # (request index, n, seed): one HTTP request each
        for i, r in enumerate(requests):
            k = r.n if r.temperature > 0 else 1  # greedy samples are identical: ask once, repeat
            if self.server.supports_n or k == 1:
                calls.append((i, k, r.seed))
            else:
                calls += [(i, 1, derive_seed(r.seed, s)) for s in range(k)]
        left = [0] * len(requests)
        for i, _, _ in calls:
            left[i] += 1
        pool = ThreadPoolExecutor(max_workers=self.server.max_concurrency)
        futures = [pool.submit(self._complete, requests[i], n, seed) for i, n, seed in calls]
        owner = {f: calls[k][0] for k, f in enumerate(futures)}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                failed = [f for f in futures if f in done and f.exception() is not None]
                if failed:  # the first failure in request order; calls not started yet are cancelled
                    raise failed[0].exception()
                for f in done:
                    left[owner[f]] -= 1
                    if left[owner[f]] == 0 and self.progress is not None:
                        self.progress(1)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        results = [ChatResult(r.request_id, []) for r in requests]
        for (i, _, _), future in zip(calls, futures, strict=True):
            completions, prompt, generated = future.result()
            results[i].completions += completions
            results[i].prompt_tokens += prompt
            results[i].completion_tokens += generated
        for r, result in zip(requests, results, strict=True):
            if r.temperature <= 0 and r.n > 1:
                result.completions = [result.completions[0]] * r.n
        self.usage.add(results)
        return results
