"""Run a training recipe in this process, or under `accelerate launch` as a subprocess of N processes.

Both paths produce the same folder: `checkpoint/` (adapter or full weights), `merged/` when asked, and
`history.json` (every logged step). The subprocess reads its inputs (run config, rows) as JSON from a work folder,
so nothing is pickled; only the main process writes the outputs. Multi-GPU command, for reference:

    accelerate launch --config_file selftrain_core/stages/train/accelerate/deepspeed-zero2.yaml --num_processes 8 \
        -m selftrain_core.stages.train.launch WORKDIR
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selftrain_core.config import RunConfig
from selftrain_core.errors import SelftrainError
from selftrain_core.models.allocator import keep_freed_memory
from selftrain_core.models.precision import training_dtype
from selftrain_core.models.resolve import resolve_model
from selftrain_core.stages.train.checkpoint import make_reproducible, merge_adapter
from selftrain_core.stages.train.hardware import training_hardware
from selftrain_core.stages.train.lm_head import completion_scoring_on_cpu
from selftrain_core.stages.train.model import load_trainable
from selftrain_core.stages.train.trainers import run_recipe

ACCELERATE_CONFIGS = Path(__file__).parent / "accelerate"


class TrainingProcessError(SelftrainError):
    """The `accelerate launch` subprocess failed; its output tail is in the message."""


@dataclass
class TrainingOutput:
    folder: Path

    @property
    def checkpoint(self) -> Path:
        return self.folder / "checkpoint"

    @property
    def merged(self) -> Path:
        return self.folder / "merged"

    @property
    def history(self) -> list[dict[str, Any]]:
        return json.loads((self.folder / "history.json").read_text())


def train_in_process(
    cfg: RunConfig, preference: list[dict], sft: list[dict], out: Path, callbacks=None, main_process: bool = True
) -> TrainingOutput:
    import torch

    hw = training_hardware(cfg.train, cfg.model.device)
    if hw.threads:
        torch.set_num_threads(hw.threads)
    torch.manual_seed(cfg.seed)
    keep_freed_memory()  # activations reuse freed memory, not fresh pages (models/allocator.py)
    trainable = load_trainable(cfg, hw)
    with completion_scoring_on_cpu():  # the reference log-probs (at the trainer's creation) and every step
        result = run_recipe(cfg, hw, trainable, preference, sft, str(out / "trainer"), callbacks)
    result.trainer.save_model(str(out / "checkpoint"))  # every process: gathers sharded weights, main one writes
    if main_process:
        result.tokenizer.save_pretrained(str(out / "checkpoint"))
        make_reproducible(str(out / "checkpoint"))
        if cfg.train.merge:
            base = resolve_model(cfg.model.name, cfg.model.revision)
            merge_adapter(str(base.path), str(out / "checkpoint"), str(out / "merged"), training_dtype(cfg.model))
        (out / "history.json").write_text(json.dumps(result.history, default=float))
    return TrainingOutput(out)


def accelerate_command(cfg: RunConfig, workdir: Path, on_gpu: bool) -> list[str]:
    t = cfg.train
    command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(t.num_processes)]
    if t.num_processes > 1:
        command += ["--config_file", str(ACCELERATE_CONFIGS / f"{t.distributed}.yaml")]
    else:
        command += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    if not on_gpu:
        command.append("--cpu")
    return command + ["-m", "selftrain_core.stages.train.launch", str(workdir)]


def train_with_accelerate(
    cfg: RunConfig, preference: list[dict], sft: list[dict], out: Path, log=print
) -> TrainingOutput:
    hw = training_hardware(cfg.train, cfg.model.device)
    (out / "inputs.json").write_text(
        json.dumps({"config": cfg.model_dump(mode="json"), "preference": preference, "sft": sft})
    )
    command = accelerate_command(cfg, out, hw.on_gpu)
    log("train: " + " ".join(command))
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not (out / "history.json").is_file():
        tail = (done.stdout + done.stderr)[-3000:]
        raise TrainingProcessError(f"accelerate launch exited with {done.returncode}:\n{tail}")
    return TrainingOutput(out)


def train(cfg: RunConfig, preference: list[dict], sft: list[dict], out: Path, callbacks=None, log=print):
    t = cfg.train
    out.mkdir(parents=True, exist_ok=True)
    if t.launcher == "accelerate" or (t.launcher == "auto" and t.num_processes > 1):
        return train_with_accelerate(cfg, preference, sft, out, log)
    return train_in_process(cfg, preference, sft, out, callbacks)


def main(workdir: str) -> None:
    """Entry point of each `accelerate launch` process."""
    from accelerate import PartialState

    folder = Path(workdir)
    inputs = json.loads((folder / "inputs.json").read_text())
    cfg = RunConfig.model_validate(inputs["config"])
    state = PartialState()
    train_in_process(cfg, inputs["preference"], inputs["sft"], folder, main_process=state.is_main_process)
    state.wait_for_everyone()


if __name__ == "__main__":
    main(sys.argv[1])
