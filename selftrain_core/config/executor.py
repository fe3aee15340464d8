"""Where the stages that sample a model run their shards: in this process, or on a Ray cluster. Runtime: no
artifact key depends on it, so a cluster run and a laptop run of one config write the same artifacts."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from selftrain_core.config.base import RUNTIME, StrictModel


class ExecutorConfig(StrictModel):
    kind: Literal["local", "ray"] = Field(
        "local",
        description="local: shards run in the stage's own process. ray: the shards of questions, answers, score and "
        "evaluate's generation (new questions, references, every model's answers) run on Ray actors that each load "
        "the model once (a served model needs none: the server is the pool).",
        json_schema_extra=RUNTIME,
    )
    address: str | None = Field(
        None,
        description="The Ray cluster to join (host:port of `ray start --head`); default: RAY_ADDRESS. Use token "
        "authentication (RAY_AUTH_MODE=token, RAY_AUTH_TOKEN): an open Ray port runs anyone's code.",
        json_schema_extra=RUNTIME,
    )
    workers: int | None = Field(
        None,
        gt=0,
        description="Actors per stage (default: the cluster's CPUs, or GPUs, over each actor's share).",
        json_schema_extra=RUNTIME,
    )
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs each actor reserves.", json_schema_extra=RUNTIME)
    gpus_per_worker: float = Field(
        0.0,
        ge=0,
        description="GPUs each actor reserves (1 for a vLLM actor on its own GPU).",
        json_schema_extra=RUNTIME,
    )
    start_timeout_s: float = Field(
        900.0,
        gt=0,
        description="How long the actors may take to be placed and load the model before the stage stops, naming "
        "the resources it asked for.",
        json_schema_extra=RUNTIME,
    )
    threads_per_worker: int | None = Field(
        None,
        gt=0,
        description="torch threads in each actor (default: its CPUs). Results are identical to a local "
        "run at the same thread count.",
        json_schema_extra=RUNTIME,
    )
