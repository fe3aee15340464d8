"""One folder per stage: `stages/<stage>/config.py` (its settings), `stage.py` (`plan(cfg, *parents) -> StagePlan`,
the key with no work, and `run(cfg, plan, ...)`), and the stage's own domain code beside them. Shared by all stages:
base.py (execute: cache, lock, compute, manifest last), shards.py (sharded generation with resume), progress.py.

The stage packages' `__init__` files import nothing, so a stage's config can be imported without its stage code."""

from typing import Literal, get_args

StageName = Literal["ingest", "chunk", "questions", "answers", "score", "curate", "train", "evaluate"]
STAGES: tuple[StageName, ...] = get_args(StageName)
"""The stages in run order: the one list of their names (the CLI's choices, the flow's `stop_after`, exports)."""
