"""How often a stage that failed for a reason that may pass by itself (a server that stayed down through its own
request retries, a dropped connection) runs again, and after what waits. A user's mistake is never retried. Runtime:
no artifact key depends on it."""

from __future__ import annotations

from pydantic import Field

from selftrain_core.config.base import RUNTIME, StrictModel


class RetriesConfig(StrictModel):
    count: int = Field(
        2, ge=0, le=10, description="Retries of a stage after a transient failure (0: none).", json_schema_extra=RUNTIME
    )
    delay_s: list[float] = Field(
        default_factory=lambda: [60.0, 300.0],
        description="Seconds to wait before each retry (the last repeats); resumed stages skip finished shards.",
        json_schema_extra=RUNTIME,
    )
