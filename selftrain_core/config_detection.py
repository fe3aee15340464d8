"""Knowledge-detection settings: which scorer judges the samples (score) and how scores become data (curate)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from selftrain_core.config_base import StrictModel


class ScoreConfig(StrictModel):
    scorer: Literal["embedding-agreement"] = Field(
        "embedding-agreement", description="Knowledge scorer (embedding-agreement is the offline default)."
    )


class CurateConfig(StrictModel):
    answerable_threshold: float = Field(
        0.55,
        description="S_L below this: samples with the document disagree with the reference; question dropped.",
    )
    known_threshold: float = Field(
        0.75, description="S_K at or above this: the model already knows the answer; no pair is made."
    )
