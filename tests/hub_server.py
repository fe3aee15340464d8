"""A tiny Hugging Face Hub for tests: the endpoints `HfApi.create_repo`, `create_branch` and `upload_folder` call
(huggingface_hub 2.x), in a thread, holding what was pushed in memory.

It answers every preupload with the regular (inline, base64) upload mode, so no LFS or Xet transfer starts, and
accepts only `Authorization: Bearer <token>` (401 otherwise, like the hub). Every request is recorded with its
Authorization header; an endpoint it does not know answers 404 and is recorded as such.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REPO = r"/api/(?P<type>models|datasets)/(?P<repo>[^/]+/[^/]+)"
ROUTES = {
    "create": re.compile(r"/api/repos/create"),
    "validate": re.compile(r"/api/validate-yaml"),
    "branch": re.compile(REPO + r"/branch/(?P<rev>[^/?]+)"),
    "preupload": re.compile(REPO + r"/preupload/(?P<rev>[^/?]+)"),
    "commit": re.compile(REPO + r"/commit/(?P<rev>[^/?]+)"),
}


@dataclass
class Repo:
    private: bool
    branches: dict[str, dict[str, bytes]] = field(default_factory=lambda: {"main": {}})
    commits: list[dict[str, Any]] = field(default_factory=list)


class HubServer:
    """`with HubServer(token) as hub:` then HfApi(endpoint=hub.url, token=token)."""

    def __init__(self, token: str):
        self.token = token
        self.repos: dict[tuple[str, str], Repo] = {}  # (model | dataset, repo id)
        self.requests: list[dict[str, Any]] = []  # method, path, route, authorization, status
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HubServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def files(self, repo_type: str, repo_id: str, branch: str = "main") -> dict[str, bytes]:
        return self.repos[(repo_type, repo_id)].branches[branch]

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, dict]:
        """(status, JSON body, extra headers); the request is recorded with its status."""
        route, match = next(((n, m) for n, r in ROUTES.items() if (m := r.fullmatch(path.split("?")[0]))), (None, None))
        record = {"method": method, "path": path, "route": route, "authorization": headers.get("authorization")}
        self.requests.append(record)
        status, payload, extra = self._answer(method, path, route, match, headers, body)
        record["status"] = status
        return status, payload, extra

    def _answer(self, method, path, route, match, headers, body) -> tuple[int, dict, dict]:
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"error": "Invalid credentials in Authorization header"}, {"X-Error-Message": "Invalid token"}
        if method != "POST" or route is None:
            return 404, {"error": f"not served here: {method} {path}"}, {}
        if route == "validate":
            return 200, {"errors": [], "warnings": []}, {}
        if route == "create":
            return self._create(json.loads(body))
        repo = self.repos.get((match["type"][:-1], match["repo"]))
        if repo is None:
            return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
        if route == "branch":
            if match["rev"] in repo.branches:
                return 409, {"error": "Branch already exists"}, {}
            repo.branches[match["rev"]] = dict(repo.branches["main"])
            return 200, {}, {}
        if match["rev"] not in repo.branches:
            return 404, {"error": "Revision not found"}, {"X-Error-Code": "RevisionNotFound"}
        if route == "preupload":
            paths = [f["path"] for f in json.loads(body)["files"]]
            return 200, {"files": [{"path": p, "uploadMode": "regular", "shouldIgnore": False} for p in paths]}, {}
        return self._commit(match, repo, body)

    def _create(self, payload: dict[str, Any]) -> tuple[int, dict, dict]:
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload['organization']}/{payload['name']}"
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        if (repo_type, repo_id) in self.repos:
            return 409, {"error": "You already created this repo", "url": f"{self.url}/{prefix}{repo_id}"}, {}
        self.repos[(repo_type, repo_id)] = Repo(private=payload.get("visibility") == "private")
        return 200, {"url": f"{self.url}/{prefix}{repo_id}"}, {}

    def _commit(self, match: re.Match, repo: Repo, body: bytes) -> tuple[int, dict, dict]:
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = next(item["value"] for item in lines if item["key"] == "header")
        files = repo.branches[match["rev"]]
        for item in lines:
            if item["key"] != "file":
                continue
            value = item["value"]
            assert value["encoding"] == "base64", value["encoding"]
            files[value["path"]] = base64.b64decode(value["content"])
        oid = hashlib.sha1(body).hexdigest()
        repo.commits.append({"oid": oid, "branch": match["rev"], "summary": header["summary"], "files": sorted(files)})
        prefix = "" if match["type"] == "models" else "datasets/"
        return 200, {"commitUrl": f"{self.url}/{prefix}{match['repo']}/commit/{oid}", "commitOid": oid}, {}


def _handler(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload, extra = hub.handle(self.command, self.path, headers, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **extra}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read hub.requests
            pass

    return Handler
