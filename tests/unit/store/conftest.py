"""The S3 server fixtures (tests/s3_server.py) for the store's tests on object storage."""

from tests.s3_server import s3_endpoint, s3_root  # noqa: F401
