"""`make pools`: the work pools prefect.yaml deploys to, the GPU pool's run limit and the crash automation, in one
process (`python -m deployments.pools --gpus N`). Each `prefect` CLI call costs ~3 s of imports: `make pools` was
five of them (two inspects, two creates on a fresh server, the limit) and a sixth process for the automation.

Safe to run again: a pool that exists is kept (its type and job template untouched); the GPU pool's concurrency
limit and the automation are set to what is declared here.
"""

from __future__ import annotations

import argparse
from typing import Literal

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
from prefect.exceptions import ObjectNotFound

from deployments import automations

CPU_POOL, GPU_POOL = "selftrain-cpu", "selftrain-gpu"


def ensure_pool(
    client: SyncPrefectClient, name: str, limit: int | None = None
) -> Literal["created", "updated", "unchanged"]:
    """A process work pool named `name` that runs at most `limit` flow runs at once. limit=None: a new pool has no
    limit, and an existing one keeps the limit an operator gave it."""
    from prefect.workers.process import ProcessWorker

    try:
        pool = client.read_work_pool(name)
    except ObjectNotFound:
        template = ProcessWorker.get_default_base_job_template()  # what `work-pool create --type process` uses
        client.create_work_pool(
            WorkPoolCreate(name=name, type="process", base_job_template=template, concurrency_limit=limit)
        )
        return "created"
    if limit is None or pool.concurrency_limit == limit:
        return "unchanged"
    client.update_work_pool(name, WorkPoolUpdate(concurrency_limit=limit))
    return "updated"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpus", type=int, required=True, help="GPUs serving the GPU pool, all machines together")
    args = parser.parse_args(argv)
    if args.gpus < 1:
        raise SystemExit(f"--gpus {args.gpus}: the GPU pool needs at least one GPU (GPUS=N, N >= 1)")
    with get_client(sync_client=True) as client:
        for name, limit in ((CPU_POOL, None), (GPU_POOL, args.gpus)):
            done = ensure_pool(client, name, limit)
            print(f"work pool {name!r} {done}" + (f": at most {limit} run(s) at once" if limit else ""))
    automations.main()


if __name__ == "__main__":
    main()
