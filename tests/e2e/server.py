"""A real Prefect server, work pools, deployments and workers as subprocesses, for end-to-end tests (127.0.0.1)."""

from __future__ import annotations

import base64
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

REPO = Path(__file__).resolve().parents[2]
PREFECT = [sys.executable, "-m", "prefect"]
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prefect_env(home: Path, api_url: str | None, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_WORKER_QUERY_SECONDS="1",  # pick runs up within a second (default 10)
        # flow runs heartbeat every 30 s (Prefect's minimum; `make worker` passes it on) and `make pools` makes its
        # automation for that period: a run whose worker died shows as Crashed in 90 s, not 180
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY="30",
        OMP_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),  # this checkout's code
        SELFTRAIN_CACHE=str(cache),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def server_env(home: Path, port: int, cache: Path) -> dict[str, str]:
    """The server's own environment: its pages call the API on this port (the UI's default is 4200)."""
    return {**prefect_env(home, None, cache), "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api"}


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = log.open("wb")
    return subprocess.Popen(args, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the process group (the worker's flow-run children too), then SIGKILL what is left after 3 s. A prefect
    3.8.8 worker never ended within 15 s of SIGTERM here (it sends itself SIGINT and waits out its loops): 15 s of an
    idle test per worker stopped; no test checks a worker's graceful end (their runs are over when they stop)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class Api:
    """The server's REST API, called the way the UI calls it (explicit limits: see tests/integration)."""

    def __init__(self, url: str):
        self.url = url

    def wait_healthy(self, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"prefect server exited: {log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"prefect server not healthy after {timeout} s: {log.read_text()[-3000:]}")

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One API call, sent again after a 503 as Prefect's own client does (the server answers 503 while its
        database is busy, e.g. on a loaded 2-core machine)."""
        for wait in (1, 2, 4, 8, 0):
            response = httpx.request(method, f"{self.url}{path}", timeout=30, **kwargs)
            if response.status_code != 503 or not wait:
                return response
            time.sleep(wait)
        return response

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self._send("POST", path, json=body)

    def delete(self, path: str) -> None:
        self._send("DELETE", path).raise_for_status()

    def get(self, path: str) -> dict[str, Any]:
        response = self._send("GET", path)
        response.raise_for_status()
        return response.json()

    def deployment(self, flow: str, name: str) -> dict[str, Any]:
        return self.get(f"/deployments/name/{flow}/{name}")

    def flow_runs(self, deployment_id: str) -> list[dict[str, Any]]:
        """Every flow run of the deployment, page by page (earlier tests leave more than one page of them)."""
        body = {"deployments": {"id": {"any_": [deployment_id]}}, "sort": "EXPECTED_START_TIME_ASC", "limit": 200}
        runs: list[dict[str, Any]] = []
        while True:
            response = self.post("/flow_runs/filter", {**body, "offset": len(runs)})
            response.raise_for_status()
            page = response.json()
            runs += page
            if len(page) < body["limit"]:
                return runs

    def artifacts(self, flow_run_id: str) -> list[dict[str, Any]]:
        body = {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 200, "offset": 0}
        response = self.post("/artifacts/filter", body)
        response.raise_for_status()
        return response.json()

    def automations(self, name: str) -> list[dict[str, Any]]:
        body = {"automations": {"name": {"any_": [name]}}, "limit": 50, "offset": 0}
        response = self.post("/automations/filter", body)
        response.raise_for_status()
        return response.json()

    def heartbeats(self, flow_run_id: str) -> list[dict[str, Any]]:
        """The flow run's heartbeat events the server has stored, oldest first."""
        names = {"name": ["prefect.flow-run.heartbeat"]}
        body = {"filter": {"event": names, "resource": {"id": [f"prefect.flow-run.{flow_run_id}"]}}, "limit": 50}
        response = self.post("/events/filter", body)
        response.raise_for_status()
        return sorted(response.json()["events"], key=lambda event: event["occurred"])

    def run_like_the_ui(self, deployment: dict[str, Any], parameters: dict[str, Any]) -> httpx.Response:
        """What the UI's Run > Custom run button posts: the form's values over the deployment's parameters."""
        body = {
            "state": {"type": "SCHEDULED", "message": "Run from the Prefect UI"},
            "parameters": {**deployment["parameters"], **parameters},
            "enforce_parameter_schema": deployment["enforce_parameter_schema"],
        }
        return self.post(f"/deployments/{deployment['id']}/create_flow_run", body)

    def wait_finished(self, flow_run_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            run = self.get(f"/flow_runs/{flow_run_id}")
            if run["state_type"] in TERMINAL:
                return run
            time.sleep(1)
        raise TimeoutError(f"flow run {flow_run_id} not finished after {timeout} s (state {run['state_type']})")


class Chromium:
    """A page in headless chromium, driven over the DevTools protocol (a websocket; `websockets` comes with prefect),
    so a test can fill in a form as a person would, with no webdriver. Use as a context manager."""

    def __init__(self, chromium: str, profile: Path, url: str, size: str = "1400,4000", timeout: float = 30):
        (profile / "DevToolsActivePort").unlink(missing_ok=True)  # chromium writes the port it picked here
        args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}"]
        args += ["--remote-debugging-port=0", f"--window-size={size}", url]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.ids = itertools.count(1)
        deadline = time.time() + timeout
        pages = []
        while not pages:
            if time.time() > deadline:
                self.proc.kill()
                raise TimeoutError(f"chromium opened no page in {timeout} s")
            time.sleep(0.2)
            port_file = profile / "DevToolsActivePort"
            if port_file.exists() and port_file.read_text().strip():
                targets = httpx.get(f"http://127.0.0.1:{port_file.read_text().split()[0]}/json/list").json()
                pages = [t for t in targets if t["type"] == "page"]
        self.ws = connect(pages[0]["webSocketDebuggerUrl"], max_size=None)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.ws.close()
        self.proc.kill()
        self.proc.wait()

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command and its result (events, which no test enables, are skipped)."""
        command_id = next(self.ids)
        self.ws.send(json.dumps({"id": command_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == command_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while not self.evaluate(expression):
            if time.time() > deadline:
                raise TimeoutError(f"not true after {timeout} s: {expression}")
            time.sleep(0.25)

    def click(self, text: str) -> None:
        """Click the button whose text is `text`."""
        self.evaluate(
            f"[...document.querySelectorAll('button')].find(b => b.innerText.trim() === {json.dumps(text)}).click()"
        )

    def type_into(self, section: str, field: str, value: str) -> None:
        """Type into field `field` inside section `section` of a Prefect schema form (by the labels a person reads,
        less " (Optional)"), as a keyboard would: the value, then an input event."""
        self.evaluate(
            f"""(() => {{
            const labelled = (root, text) => [...root.querySelectorAll('.schema-form-property__label')]
                .find(s => s.innerText.trim().replace(/ \\(Optional\\)$/, '') === text)
                .closest('.schema-form-property');
            const section = labelled(document, {json.dumps(section)});
            const input = labelled(section, {json.dumps(field)}).querySelector('textarea, input');
            input.value = {json.dumps(value)};
            input.dispatchEvent(new Event('input', {{bubbles: true}}));
            }})()"""
        )

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
