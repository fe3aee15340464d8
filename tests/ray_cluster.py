"""A two-node Ray cluster on the loopback interface only, for the Ray tests and bench/ray_answers.py.

Ray binds the machine's network address by default, so the cluster runs in a network namespace of its own with only
loopback up (`unshare -n`, as root): a head node and a second node joining it, both on 127.0.0.1, with token
authentication. The job (a Python module's `main(args)`) runs in that namespace too, as the cluster's driver, and the
cluster is stopped when it returns.

    python -m tests.ray_cluster JOB_MODULE [JOB ARGS...] [--then JOB_MODULE [JOB ARGS...]]   # inside the namespace

Several jobs separated by --then run one after the other on the same cluster (each cluster start is ~20 s of the
two cores); see `run_jobs`.
"""

from __future__ import annotations

import importlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

HEAD_PORT = 6390
SECOND_NODE_PORT = 6411  # the second node's raylet: its processes are found by this port and killed in the tests


def unavailable() -> str | None:
    """Why a namespaced cluster cannot start here (None: it can)."""
    if os.geteuid() != 0:
        return "a private network namespace (unshare -n) needs root"
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    try:
        import ray  # noqa: F401
    except ImportError:
        return "ray is not installed (pip install 'selftrain[ray]')"
    return None


def run_job(module: str, args: list[str], timeout: float, env: dict[str, str] | None = None):
    """Run `module.main(args)` as the driver of a fresh two-node cluster in a new network namespace."""
    return run_jobs([(module, args)], timeout, env)


def run_jobs(jobs: list[tuple[str, list[str]]], timeout: float, env: dict[str, str] | None = None):
    """Run each `module.main(args)` in turn as the driver of one fresh two-node cluster (the first failure stops)."""
    chain: list[str] = []
    for module, args in jobs:
        chain += (["--then"] if chain else []) + [module, *args]
    command = ["unshare", "-n", sys.executable, "-m", "tests.ray_cluster", *chain]
    full_env = {**os.environ, **(env or {}), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    full_env.update(RAY_USAGE_STATS_ENABLED="0", RAY_ADDRESS=f"127.0.0.1:{HEAD_PORT}")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.run(command, cwd=repo, env=full_env, capture_output=True, text=True, timeout=timeout, check=False)


def _ray(*args: str, temp_dir: str) -> None:
    ray = os.path.join(os.path.dirname(sys.executable), "ray")
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--disable-usage-stats"]
    subprocess.run([ray, "start", *args, *common, "--temp-dir", temp_dir], check=True, capture_output=True)


def second_node_processes() -> list:
    """The second node's raylet and every process under it (its workers and actors)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "raylet" in cmdline and f"--node_manager_port={SECOND_NODE_PORT}" in cmdline:
            found += [proc, *proc.children(recursive=True)]
    return found


def _inside(chain: list[str]) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    temp_dir = tempfile.mkdtemp(prefix="ray-")
    try:
        _ray("--head", "--port", str(HEAD_PORT), "--include-dashboard=false", temp_dir=temp_dir)
        _ray("--address", f"127.0.0.1:{HEAD_PORT}", "--node-manager-port", str(SECOND_NODE_PORT), temp_dir=temp_dir)
        time.sleep(1)
        jobs: list[list[str]] = [[]]
        for word in chain:
            if word == "--then":
                jobs.append([])
            else:
                jobs[-1].append(word)
        for module, *args in jobs:
            importlib.import_module(module).main(args)
    except BaseException:
        traceback.print_exc()  # now: `ray stop` below ends this process before Python would print it
        sys.stderr.flush()
        raise
    finally:
        ray = os.path.join(os.path.dirname(sys.executable), "ray")
        subprocess.run([ray, "stop", "--force"], capture_output=True, check=False)
        shutil.rmtree(temp_dir, ignore_errors=True)


if __name__ == "__main__":
    _inside(sys.argv[1:])
