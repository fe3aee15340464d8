"""A small OpenAI-compatible server for tests: GET /v1/models and POST /v1/chat/completions.

Answers come from an engine with the Backend protocol: selftrain's own HFBackend on a local model (run it as a
process: `python -m tests.openai_server --model PATH --port N`), or a model-free fake that tests run in a thread.
Requests are served one at a time, and the HF backend seeds each sample from (seed, sample index), so the server
is deterministic per (request, seed, sample index), like `vllm serve` with seeds.

Faults, set at start (flags) or at run time (POST /admin/faults with the same names), for the error-path tests:
api_key (401 without it), fail_429 / fail_500 (the next k chat calls fail), slow (the next k chat calls wait 1 s
before answering: client timeouts), no_choices, no_n (400 for n > 1),
max_model_len (400 "maximum context length" when prompt + max_tokens exceed it), die_after (SIGKILL itself on the
chat call after k served ones: a server that dies mid-stage).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from selftrain_core.backends.base import ChatRequest, ChatResult, Completion

FAULTS = {"api_key": None, "fail_429": 0, "fail_500": 0, "no_choices": False, "no_n": False}
FAULTS.update(max_model_len=None, die_after=None, slow=0)


class FakeEngine:
    """No model: a sample's words are a hash of (messages, seed, sample index, temperature)."""

    name = "fake"

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        return sum(len(m["content"].split()) + 2 for m in messages)

    def generate(self, requests: list[ChatRequest]) -> list[ChatResult]:
        out = []
        for r in requests:
            completions = []
            for s in range(r.n):
                index = s if r.temperature > 0 else 0
                digest = hashlib.sha256(repr((r.messages, r.seed, index, r.temperature)).encode()).hexdigest()
                words = [digest[i : i + 4] for i in range(0, 4 * min(r.max_tokens, 4), 4)]
                finish = "length" if r.max_tokens <= 4 else "stop"
                completions.append(Completion(" ".join(words), [-0.25] * len(words), finish))
            out.append(ChatResult(r.request_id, completions, self.prompt_tokens(r.messages), 4 * r.n))
        return out


class HFEngine:
    def __init__(self, path: str):
        from selftrain_core.backends.hf import HFBackend
        from selftrain_core.models.loading import load_causal_lm, load_tokenizer
        from selftrain_core.models.resolve import resolve_model

        model = resolve_model(path)
        self.backend = HFBackend(load_causal_lm(model, device="cpu"), load_tokenizer(model))

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        return len(self.backend._prompt_ids(ChatRequest(request_id="", messages=messages)))

    def generate(self, requests: list[ChatRequest]) -> list[ChatResult]:
        return self.backend.generate(requests)


def _error(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": None, "code": status}}
    return JSONResponse(body, status_code=status, headers=headers)


def create_app(engine: Any, served_name: str, faults: dict[str, Any] | None = None) -> FastAPI:
    app = FastAPI()
    state = {**FAULTS, **(faults or {})}
    app.state.faults, app.state.calls = state, []  # calls: (n, seed) of each chat call that reached the engine
    lock = threading.Lock()
    served = {"count": 0}

    def refused(request: Request) -> JSONResponse | None:
        key = state["api_key"]
        if key and request.headers.get("authorization") != f"Bearer {key}":
            return _error(401, "Incorrect API key provided.", "invalid_request_error")
        return None

    @app.post("/admin/faults")
    async def set_faults(body: dict[str, Any]) -> dict[str, Any]:
        state.update({**FAULTS, "api_key": state["api_key"], **body})
        return {k: v for k, v in state.items() if k != "api_key"}

    @app.get("/v1/models")
    async def models(request: Request):
        if (denied := refused(request)) is not None:
            return denied
        return {"object": "list", "data": [{"id": served_name, "object": "model", "owned_by": "tests"}]}

    @app.post("/v1/chat/completions")
    def chat(request: Request, body: dict[str, Any]):
        if (denied := refused(request)) is not None:
            return denied
        if body.get("model") != served_name:
            return _error(404, f"The model `{body.get('model')}` does not exist.", "NotFoundError")
        if state["slow"] > 0:
            state["slow"] -= 1
            time.sleep(1.0)
        with lock:  # one request at a time: deterministic, and the fault counters are exact
            if state["die_after"] is not None and served["count"] >= state["die_after"]:
                os.kill(os.getpid(), signal.SIGKILL)
            if state["fail_429"] > 0:
                state["fail_429"] -= 1
                return _error(429, "Rate limit reached.", "rate_limit_error", {"retry-after": "0"})
            if state["fail_500"] > 0:
                state["fail_500"] -= 1
                return _error(500, "Internal server error.", "server_error")
            n = int(body.get("n") or 1)
            if state["no_n"] and n > 1:
                return _error(400, "n > 1 is not supported by this server.", "invalid_request_error")
            messages = [{"role": m["role"], "content": m["content"]} for m in body["messages"]]
            prompt_tokens = engine.prompt_tokens(messages)
            max_tokens = int(body.get("max_tokens") or 16)
            limit = state["max_model_len"]
            if limit is not None and prompt_tokens + max_tokens > limit:
                return _error(
                    400,
                    f"This model's maximum context length is {limit} tokens. However, you requested "
                    f"{prompt_tokens + max_tokens} tokens ({prompt_tokens} in the messages, {max_tokens} in the "
                    "completion). Please reduce the length of the messages or completion.",
                    "BadRequestError",
                )
            request = ChatRequest(
                request_id="r",
                messages=messages,
                n=n,
                temperature=float(body.get("temperature", 1.0)),
                top_p=float(body.get("top_p", 1.0)),
                max_tokens=max_tokens,
                seed=int(body.get("seed") or 0),
                logprobs=bool(body.get("logprobs")),
            )
            (result,) = engine.generate([request])
            served["count"] += 1
            app.state.calls.append((n, request.seed))
        choices = (
            [] if state["no_choices"] else [_choice(i, c, request.logprobs) for i, c in enumerate(result.completions)]
        )
        completion_tokens = sum(max(c.n_tokens, 1) for c in result.completions)
        return {
            "id": f"chatcmpl-{served['count']}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": served_name,
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    return app


def _choice(index: int, completion: Completion, logprobs: bool) -> dict[str, Any]:
    content = [{"token": "t", "logprob": lp, "bytes": None, "top_logprobs": []} for lp in completion.token_logprobs]
    return {
        "index": index,
        "message": {"role": "assistant", "content": completion.text},
        "finish_reason": completion.finish_reason,
        "logprobs": {"content": content} if logprobs else None,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, seconds: float = 120.0, proc: subprocess.Popen | None = None) -> None:
    """Until GET /models answers (any status: a 401 means it is up)."""
    import httpx

    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"test server exited with {proc.returncode}")
        try:
            httpx.get(f"{url}/models", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError(f"test server at {url} did not start in {seconds} s")


class ThreadedServer:
    """The app on 127.0.0.1 in a thread of this process (for the fake engine; never use die_after here)."""

    def __init__(self, app: FastAPI):
        import uvicorn

        self.app, self.port = app, free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        wait_ready(self.url, 30)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def start_process(
    port: int,
    model: str | None = None,
    api_key: str | None = None,
    die_after: int | None = None,
    served_name: str = "tiny",
) -> subprocess.Popen:
    """The server as its own process (so a test can SIGKILL it); returns once it answers."""
    command = [sys.executable, "-m", "tests.openai_server", "--port", str(port), "--served-name", served_name]
    for flag, value in (("--model", model), ("--api-key", api_key), ("--die-after", die_after)):
        if value is not None:
            command += [flag, str(value)]
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}/v1", proc=proc)
    except BaseException:
        proc.kill()
        raise
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="local model folder (HFBackend); omitted: the fake engine")
    parser.add_argument("--served-name", default="tiny")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key")
    parser.add_argument("--die-after", type=int)
    args = parser.parse_args()
    import uvicorn

    engine = HFEngine(args.model) if args.model else FakeEngine()
    app = create_app(engine, args.served_name, {"api_key": args.api_key, "die_after": args.die_after})
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
