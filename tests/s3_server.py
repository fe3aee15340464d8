"""A real S3-compatible server for tests: moto's server mode (what s3fs's own test suite uses), in its own process.

`s3_endpoint` starts one server per test session on a free port of 127.0.0.1; `s3_root` gives each test a new bucket
and points the AWS environment variables at the server. The secret key is a distinctive string, so a test can look
for it in everything a run left behind (objects, manifests, logs, the Prefect database) and find it nowhere.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

KEY_ID = "selftrain-test-key-id"
SECRET = "selftrain-secret-9f4c2e71b0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def s3_env(endpoint: str) -> dict[str, str]:
    """What a process needs to reach the test server (botocore reads AWS_ENDPOINT_URL itself)."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,  # nothing from the machine's own AWS setup
        "AWS_CONFIG_FILE": os.devnull,
    }


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).close()
            break
        except OSError:
            assert proc.poll() is None, "moto_server exited at start"
            assert time.monotonic() < deadline, "moto_server did not answer within 60 s"
            time.sleep(0.2)
    try:
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(30)


def s3fs_fresh() -> None:
    """Forget s3fs's cached filesystems: each holds the credentials and endpoint of the environment it was made in."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def s3_root(s3_endpoint, monkeypatch) -> Iterator[str]:
    """`s3://<a new bucket>/artifacts`, with the environment set to reach it."""
    import s3fs

    for name, value in s3_env(s3_endpoint).items():
        monkeypatch.setenv(name, value)
    s3fs_fresh()
    bucket = f"selftrain-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem().mkdir(bucket)
    yield f"s3://{bucket}/artifacts"
    s3fs_fresh()


def bucket_texts(root: str) -> dict[str, bytes]:
    """Every object under the bucket of `root`, by path."""
    import s3fs

    fs = s3fs.S3FileSystem(use_listings_cache=False)
    bucket = root.removeprefix("s3://").split("/", 1)[0]
    return {path: fs.cat_file(path) for path in fs.find(bucket)}
