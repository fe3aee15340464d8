"""`prefect deploy`, with one fix for the pinned server: `python -m deployments.deploy --all`.

After creating each deployment, prefect 3.8.8's `prefect deploy` asks the server for the work pool's online
workers with `limit` and `offset` set to null, which the pinned server (fastapi 0.154) refuses with a 422, so
`--all` stops after the first deployment. Here that request sends explicit numbers; everything else is the
stock CLI.
"""

from __future__ import annotations

import sys

from prefect.cli import app
from prefect.client.orchestration import PrefectClient

_read_workers = PrefectClient.read_workers_for_work_pool


async def _read_workers_with_limits(self, work_pool_name, worker_filter=None, offset=None, limit=None):
    return await _read_workers(self, work_pool_name, worker_filter, offset or 0, limit or 200)


def main() -> None:
    PrefectClient.read_workers_for_work_pool = _read_workers_with_limits
    sys.argv = ["prefect", "--no-prompt", "deploy", *sys.argv[1:]]
    sys.exit(app())


if __name__ == "__main__":
    main()
