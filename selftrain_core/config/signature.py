"""A run's result-relevant configuration as one hash: the past run a scheduled retraining compares itself with.

Runtime settings (devices, batch sizes, where artifacts live) and the config's name do not change results and are
left out; so are the fields a later self-training round sets for itself (iteration, the adapter it continues), so
every round of a run has the run's signature. The source's settings are in it; its content is not (retraining
compares documents for that)."""

from __future__ import annotations

from typing import Any

from selftrain_core.config import RunConfig
from selftrain_core.config.base import result_settings
from selftrain_core.hashing import stable_hash

NOT_SIGNED = (("name",), ("iteration",), ("model", "adapter"), ("train", "init_adapter"))


def run_signature(cfg: RunConfig) -> str:
    settings: dict[str, Any] = result_settings(cfg)
    for *sections, field in NOT_SIGNED:
        node = settings
        for section in sections:
            node = node[section]
        node.pop(field)
    return "cfg-" + stable_hash(settings)
