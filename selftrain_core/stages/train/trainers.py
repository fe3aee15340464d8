"""TRL SFT and DPO runs with the settings every run shares (device-chosen precision, no checkpoint saves,
per-step logs, seeds), and the SFT-then-DPO recipe.

The DPO reference model: under LoRA, the model with the adapter disabled (fresh adapter) or a frozen copy of the
adapter being continued (after SFT, or `init_adapter`); under full fine-tuning, the model as it is when DPO
starts, through log-probs precomputed before the first step.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selftrain_core.config import RunConfig
from selftrain_core.stages.train.data import check_prompts_fit
from selftrain_core.stages.train.hardware import TrainingHardware
from selftrain_core.stages.train.model import TrainableModel

TENSORBOARD_ENV = "TENSORBOARD_LOGGING_DIR"


@dataclass
class TrainResult:
    model: Any
    tokenizer: Any
    trainer: Any  # the last TRL trainer: its save_model gathers sharded weights (ZeRO-3, FSDP) before saving
    history: list[dict[str, Any]] = field(default_factory=list)  # every logged entry, each tagged with its phase


def common_args(cfg: RunConfig, hw: TrainingHardware, output_dir: str) -> dict[str, Any]:
    t = cfg.train
    return {
        "output_dir": output_dir,
        "per_device_train_batch_size": t.batch_size,
        "gradient_accumulation_steps": t.gradient_accumulation_steps,
        "max_length": t.max_length,
        "bf16": hw.bf16,
        "fp16": hw.fp16,
        "gradient_checkpointing": hw.gradient_checkpointing,
        "use_cpu": not hw.on_gpu,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": list(t.report_to),
        "project": "selftrain",  # trackio's project
        "run_name": t.run_name,
        "trackio_static_space_id": False,  # trackio logs locally: never a Space on the Hub
        "seed": cfg.seed,
        "data_seed": cfg.seed,
        "lr_scheduler_type": "constant",
        "dataloader_num_workers": 0,
        "disable_tqdm": True,
    }


def dpo_args(cfg: RunConfig, hw: TrainingHardware, output_dir: str):
    from trl import DPOConfig

    t = cfg.train
    return DPOConfig(
        **common_args(cfg, hw, output_dir),
        num_train_epochs=t.num_epochs,
        learning_rate=t.learning_rate,
        beta=t.beta,
        # always precompute under full fine-tuning: the reference is then the model as DPO starts (the SFT
        # checkpoint in sft-then-dpo), with no second copy of the weights in memory
        precompute_ref_log_probs=t.precompute_ref_log_probs or t.finetune == "full",
        precompute_ref_batch_size=max(t.batch_size, 8),
    )


def sft_args(cfg: RunConfig, hw: TrainingHardware, output_dir: str):
    from trl import SFTConfig

    t = cfg.train
    return SFTConfig(
        **common_args(cfg, hw, output_dir),
        num_train_epochs=t.sft_num_epochs,
        learning_rate=t.sft_learning_rate,
        completion_only_loss=True,
    )


def tensorboard_path(cfg: RunConfig, phase: str) -> Path:
    """<logging_dir>/<run_name>/<phase>: SFT and DPO of sft-then-dpo are two runs side by side."""
    return Path(cfg.train.logging_dir) / (cfg.train.run_name or "train") / phase


@contextmanager
def tensorboard_dir(cfg: RunConfig, phase: str) -> Iterator[None]:
    """transformers' TensorBoard callback writes where TENSORBOARD_LOGGING_DIR says, read when the trainer is built."""
    if "tensorboard" not in cfg.train.report_to:
        yield
        return
    before = os.environ.get(TENSORBOARD_ENV)
    os.environ[TENSORBOARD_ENV] = str(tensorboard_path(cfg, phase))
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(TENSORBOARD_ENV, None)
        else:
            os.environ[TENSORBOARD_ENV] = before


def make_trainer(cfg: RunConfig, trainer_class, args, trainable: TrainableModel, rows, phase: str, callbacks=None):
    """A TRL trainer (`trainer_class`: SFTTrainer or DPOTrainer) for `trainable` on `rows`, built with `args` as
    given; ready to `train()` (what `fit` does) or to step by hand (bench/dpo_step.py)."""
    from datasets import Dataset

    check_prompts_fit(trainable.tokenizer, rows, cfg.train.max_length)
    with tensorboard_dir(cfg, phase):
        return trainer_class(
            model=trainable.model,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=trainable.tokenizer,
            peft_config=trainable.peft_config,
            callbacks=callbacks,
        )


def fit(
    cfg: RunConfig, trainer_class, args, trainable: TrainableModel, rows, phase: str, callbacks=None
) -> TrainResult:
    """Train `trainable` on `rows` with a TRL trainer; the logged history is tagged with the phase."""
    trainer = make_trainer(cfg, trainer_class, args, trainable, rows, phase, callbacks)
    trainer.train()
    history = [{**entry, "phase": phase} for entry in trainer.state.log_history]
    return TrainResult(trainer.model, trainable.tokenizer, trainer, history)


def run_sft(cfg, hw, trainable: TrainableModel, rows, output_dir: str, callbacks=None) -> TrainResult:
    from trl import SFTTrainer

    return fit(cfg, SFTTrainer, sft_args(cfg, hw, output_dir), trainable, rows, "sft", callbacks)


def run_dpo(cfg, hw, trainable: TrainableModel, rows, output_dir: str, callbacks=None) -> TrainResult:
    from trl import DPOTrainer

    result = fit(cfg, DPOTrainer, dpo_args(cfg, hw, output_dir), trainable, rows, "dpo", callbacks)
    if "ref" in getattr(result.model, "peft_config", {}):
        result.model.delete_adapter("ref")  # the frozen reference copy is not part of the result
    return result


def run_recipe(
    cfg: RunConfig,
    hw: TrainingHardware,
    trainable: TrainableModel,
    preference: list[dict[str, Any]],
    sft: list[dict[str, Any]],
    output_dir: str,
    callbacks=None,
) -> TrainResult:
    method = cfg.train.method
    if method == "sft":
        return run_sft(cfg, hw, trainable, sft, output_dir + "/sft", callbacks)
    if method == "dpo":
        return run_dpo(cfg, hw, trainable, preference, output_dir + "/dpo", callbacks)
    first = run_sft(cfg, hw, trainable, sft, output_dir + "/sft", callbacks)
    # DPO continues the SFT weights: the adapter TRL attached (now a PeftModel, so TRL keeps a frozen "ref" copy of
    # it as the reference) or, under full fine-tuning, the updated model with precomputed reference log-probs
    second = run_dpo(
        cfg, hw, TrainableModel(first.model, first.tokenizer, None), preference, output_dir + "/dpo", callbacks
    )
    return TrainResult(second.model, second.tokenizer, second.trainer, first.history + second.history)
