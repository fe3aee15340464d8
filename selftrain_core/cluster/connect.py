"""Joining the Ray cluster a run names (executor.address or RAY_ADDRESS), once per process.

Ray is an optional extra (`pip install 'selftrain[ray]'`): without it, or without an address, the run stops before
any work with a message naming the setting. A run never starts a cluster of its own: `ray.init()` without an
address would open Ray's ports on the machine's network address with no authentication. The cluster should use
Ray's token authentication (RAY_AUTH_MODE=token with RAY_AUTH_TOKEN on every node and on this driver); the token
is read from the environment by Ray and never recorded by selftrain.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from selftrain_core.config.executor import ExecutorConfig
from selftrain_core.errors import ConfigError, SelftrainError

log = logging.getLogger(__name__)


class ClusterError(SelftrainError):
    """The Ray cluster could not be joined, or lost every worker of a stage."""


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("executor.kind=ray needs Ray on this machine: pip install 'selftrain[ray]'") from None
    return ray


def cluster_address(executor: ExecutorConfig) -> str:
    address = executor.address or os.environ.get("RAY_ADDRESS")
    if not address:
        raise ConfigError(
            "executor.kind=ray needs a running cluster: set executor.address (host:port of `ray start --head`) "
            "or RAY_ADDRESS"
        )
    return address


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A host:port address must answer a TCP connection: `ray.init` waits minutes on one that does not. ("auto"
    and ray:// client addresses are left to Ray.)"""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ClusterError(
            f"no Ray cluster answers at {address} (executor.address / RAY_ADDRESS): {exc}; start one with "
            "`ray start --head`, or fix the address"
        ) from None


def connect(executor: ExecutorConfig) -> Any:
    """The `ray` module, joined to the cluster (a no-op when this process has joined it already)."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    address = cluster_address(executor)
    check_reachable(address)
    if os.environ.get("RAY_AUTH_MODE", "disabled") != "token":
        log.warning("joining the Ray cluster at %s without token authentication (RAY_AUTH_MODE=token)", address)
    try:
        ray.init(address=address, namespace="selftrain", logging_level=logging.WARNING, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(
            f"cannot join the Ray cluster at {address} (executor.address / RAY_ADDRESS): {exc}"
        ) from None
    return ray


def cluster_slots(ray: Any, executor: ExecutorConfig) -> int:
    """How many actors the cluster holds at once: its CPUs (and GPUs) over each actor's share. ClusterError when
    not even one fits (e.g. executor.gpus_per_worker on a cluster without GPUs): no actor could ever be placed."""
    resources = ray.cluster_resources()
    by_cpu = int(resources.get("CPU", 0) // executor.cpus_per_worker)
    by_gpu = int(resources.get("GPU", 0) // executor.gpus_per_worker) if executor.gpus_per_worker else by_cpu
    if min(by_cpu, by_gpu) < 1:
        raise ClusterError(
            f"the Ray cluster has {resources.get('CPU', 0):g} CPUs and {resources.get('GPU', 0):g} GPUs: not enough "
            f"for one worker (executor.cpus_per_worker={executor.cpus_per_worker:g}, "
            f"executor.gpus_per_worker={executor.gpus_per_worker:g})"
        )
    return min(by_cpu, by_gpu)
