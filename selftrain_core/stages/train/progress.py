"""Training progress for the train stage's bar and Prefect progress artifact: a TrainerCallback that turns the
trainer's steps into a percent over every phase of the recipe (SFT then DPO counts as two halves), and writes one
log line per logged step (loss, and DPO's reward margin)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback


class TrainingProgress(TrainerCallback):
    def __init__(self, phases: int, advance: Callable[[float], None], log: Callable[[str], None] | None = None):
        self.phases, self.advance, self.log = phases, advance, log
        self.phase, self.reported = -1, 0.0

    def _report(self, state: Any) -> None:
        done = min(state.global_step / state.max_steps, 1.0) if state.max_steps else 0.0
        percent = 100.0 * (max(self.phase, 0) + done) / self.phases
        if percent > self.reported:
            self.advance(percent - self.reported)
            self.reported = percent

    def on_train_begin(self, args, state, control, **kwargs):
        self.phase += 1
        self._report(state)

    def on_step_end(self, args, state, control, **kwargs):
        self._report(state)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.log is None or not logs or "loss" not in logs:
            return
        margin = f", reward margin {logs['rewards/margins']:.3f}" if "rewards/margins" in logs else ""
        self.log(f"train: step {state.global_step}/{state.max_steps}, loss {logs['loss']:.4f}{margin}")
