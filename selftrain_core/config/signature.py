"""A run's result-relevant configuration as one hash: the past run a scheduled retraining compares itself with.

Runtime settings (devices, batch sizes, where artifacts live) and the config's name do not change results and are
left out; so are the fields a later self-training round sets for itself (iteration, the adapter it continues), so
every round of a run has the run's signature. The source's settings are in it; its content is not (retraining
compares documents for that)."""

from __future__ import annotations

from selftrain_core.config import RunConfig
from selftrain_core.config.base import result_settings
from selftrain_core.hashing import stable_hash


def run_signature(cfg: RunConfig) -> str:
    """The hash of the settings that are neither RUNTIME nor NOT_SIGNED (config/base.py marks them)."""
    return "cfg-" + stable_hash(result_settings(cfg, without=("runtime", "not_signed")))
