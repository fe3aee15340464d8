"""A stage's unfinished shards on a pool of Ray actors (executor.kind=ray).

Each actor loads the stage's backend once (the hf model on its CPUs, or a vLLM engine on its GPU) and takes one shard
at a time: it computes the rows with the stage's own `shard_rows` and writes the shard and its completion marker to
the shared artifact root, exactly as the local path does. The driver (the stage's process) only schedules, counts
progress, and writes the manifest when every shard is done. Rows depend on the request seeds only, not on which
actor drew them, so the artifact is the local run's at the same thread count.

Each actor resolves the model on its own node (its HF cache, or its copy of a local folder) and refuses one whose
fingerprint is not the driver's. Actors are spread over the nodes. An actor that dies (its process or its node
killed) costs the shard in flight: the shard goes back in the queue for another actor, and the stage fails only
when no actor is left. A shard the dead actor had finished stays finished (its marker was written after its
bytes).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pyarrow as pa

from selftrain_core.backends.usage import Usage
from selftrain_core.cluster.connect import ClusterError, cluster_slots, connect
from selftrain_core.cluster.jobs import BackendSpec, ShardJob, ShardTarget, shared_root
from selftrain_core.config.executor import ExecutorConfig
from selftrain_core.store import ArtifactStore, ArtifactWriter

Row = dict[str, Any]
__all__ = ["BackendSpec", "ShardJob", "ShardTarget", "ShardWorker", "run_on_cluster", "run_shards", "shared_root"]


def run_on_cluster(
    executor: ExecutorConfig,
    spec: Any,
    shard_rows: Callable[[Any, list[Row]], list[Row]],
    jobs: Iterable[ShardJob],
    writer: ArtifactWriter,
    table: str,
    schema: pa.Schema,
    update: Callable[[int], None],
    per_item: int,
    log: Callable[[str], None],
    expected: int | None = None,
) -> tuple[Usage, dict[str, int]]:
    """`run_shards` into `writer`'s artifact, then check that this process sees every shard the actors wrote."""
    url = writer.store.url
    target = ShardTarget(shared_root(url), writer.stage, writer.key, table, schema)
    sent: set[int] = set()
    expected = len(jobs) if isinstance(jobs, list) else expected

    def recorded() -> Iterator[ShardJob]:
        for job in jobs:
            sent.add(job.index)
            yield job

    usage, nodes = run_shards(executor, spec, shard_rows, recorded(), target, update, per_item, log, expected)
    missing = sorted(sent - set(writer.done_shards(table)))
    if missing:
        raise ClusterError(
            f"{writer.stage}: the Ray workers wrote {len(missing)} shards (first: {missing[0]}) where this process "
            f"cannot see them: artifact_root {url} must be storage every node shares (a bucket, or a filesystem "
            "mounted at the same path)"
        )
    return usage, nodes


class ShardWorker:
    """The actor: one engine (a stage's backend, or its scorer and models: `spec.open`), many shards."""

    def __init__(self, spec: Any, shard_rows: Callable, threads: int | None):
        import ray
        import torch

        self.node = f"{ray.util.get_node_ip_address()}/{ray.get_runtime_context().get_node_id()[:8]}"
        if threads:
            torch.set_num_threads(threads)
        self.backend = spec.open(self.node)
        self.shard_rows = shard_rows

    def ready(self) -> str:
        return self.node

    def run(self, target: ShardTarget, job: ShardJob) -> str:
        rows = self.shard_rows(self.backend, job.items)
        writer = ArtifactWriter(ArtifactStore(target.root), target.stage, target.key)
        writer.write_shard(target.table, job.index, pa.Table.from_pylist(rows, schema=target.schema), meta=job.meta)
        return self.node

    def close(self) -> Usage:
        usage = getattr(self.backend, "usage", None) or Usage()
        self.backend.close()
        return usage


def _start(ray: Any, executor: ExecutorConfig, spec, shard_rows, count: int) -> tuple[list[Any], list[str]]:
    """`count` actors spread over the nodes, each ready (its model loaded), and their nodes. An error in loading is
    raised as itself (a missing model, a bad adapter); actors not placed within executor.start_timeout_s (the
    cluster lacks the resources, or another job holds them) are a ClusterError naming what was asked. Either way
    no actor is left behind."""
    remote = ray.remote(ShardWorker).options(
        num_cpus=executor.cpus_per_worker,
        num_gpus=executor.gpus_per_worker,
        scheduling_strategy="SPREAD",
        max_restarts=0,
    )
    threads = executor.threads_per_worker or max(1, int(executor.cpus_per_worker))
    function, shared = ray.put(shard_rows), ray.put(spec)  # once, not once per actor (a spec may carry an adapter)
    actors = [remote.remote(shared, function, threads) for _ in range(count)]
    try:
        pending = [a.ready.remote() for a in actors]
        ready, _ = ray.wait(pending, num_returns=len(pending), timeout=executor.start_timeout_s)
        if len(ready) < len(pending):
            raise ClusterError(
                f"{spec.section}: {len(pending) - len(ready)} of {count} Ray workers were not placed within "
                f"{executor.start_timeout_s:g} s (each asks for {executor.cpus_per_worker:g} CPUs and "
                f"{executor.gpus_per_worker:g} GPUs; the cluster has {ray.available_resources()} free): lower "
                "executor.workers or the per-worker resources, or add nodes"
            )
        return actors, ray.get(pending)
    except BaseException:
        for actor in actors:
            ray.kill(actor)
        raise


def run_shards(
    executor: ExecutorConfig,
    spec: Any,
    shard_rows: Callable[[Any, list[Row]], list[Row]],
    jobs: Iterable[ShardJob],
    target: ShardTarget,
    update: Callable[[int], None],
    per_item: int,
    log: Callable[[str], None],
    expected: int | None = None,
) -> tuple[Usage, dict[str, int]]:
    """Compute and write `jobs` on the cluster, each actor with the engine `spec.open(node)` gives (a BackendSpec,
    or the score stage's scorer). `jobs` may be a list or an iterator read as actors free up (the driver then holds
    the shards in flight, not all of them), with `expected` its length. Returns the actors' usage and the shards
    each node wrote."""
    ray = connect(executor)
    slots = cluster_slots(ray, executor)
    if executor.workers and executor.workers > slots:
        log(f"{target.stage}: executor.workers={executor.workers}, but the cluster holds {slots}; using {slots}")
    total = len(jobs) if isinstance(jobs, list) else expected
    if total is None:
        raise ValueError("run_shards: give `expected` with an iterator of jobs")
    count = min(total, executor.workers or slots, slots)
    started = time.perf_counter()
    actors, nodes = _start(ray, executor, spec, shard_rows, count)
    log(
        f"{target.stage}: {total} shards on {count} Ray workers, on nodes {', '.join(sorted(nodes))}; "
        f"ready in {time.perf_counter() - started:.1f} s"
    )
    source, queue, idle, running = iter(jobs), deque(), list(actors), {}  # queue: shards to run again, or next
    placed: Counter[str] = Counter()

    def waiting() -> bool:
        """Whether a shard waits to run: one to run again, or the next from `jobs` (read only now)."""
        if not queue:
            job = next(source, None)
            if job is not None:
                queue.append(job)
        return bool(queue)

    try:
        while waiting() or running:
            while idle and waiting():
                actor, job = idle.pop(), queue.popleft()
                running[actor.run.remote(target, job)] = (actor, job)
            if not running:
                raise ClusterError(f"{target.stage}: every Ray worker died with shards left; run again to resume")
            (future,), _ = ray.wait(list(running), num_returns=1)
            actor, job = running.pop(future)
            try:
                node = ray.get(future)
            except ray.exceptions.RayActorError as exc:
                log(f"{target.stage}: a Ray worker died with shard {job.index} in flight; it goes to another ({exc})")
                ray.kill(actor)  # "unavailable" may be a live actor cut off: it must not write after the manifest
                queue.appendleft(job)
                continue
            placed[node] += 1
            idle.append(actor)
            update((len(job.items) if job.new is None else job.new) * per_item)
        return _close(ray, idle, log), dict(sorted(placed.items()))
    finally:
        for actor in actors:
            ray.kill(actor)
        if running:  # an error left shards in flight: let them stop before the caller removes or commits
            ray.wait(list(running), num_returns=len(running), timeout=30)


def _close(ray: Any, actors: list[Any], log: Callable[[str], None]) -> Usage:
    """Close each actor's backend and add up their usage; one that died after its last shard only loses its count."""
    usage = Usage()
    for actor in actors:
        try:
            part = ray.get(actor.close.remote())
        except ray.exceptions.RayActorError as exc:
            log(f"a Ray worker died after its last shard; its token counts are lost ({exc})")
            continue
        usage.merge(part)
    return usage
