"""Training settings: method (DPO, SFT, SFT then DPO), what is trained (LoRA, QLoRA, all weights), and how.

Precision and gradient checkpointing default to `auto`: chosen from the device at run time (bf16 mixed precision
and checkpointing on a CUDA GPU; fp32 without checkpointing on CPU, where TRL's defaults make a step ~13x slower).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from selftrain_core.config.base import FINGERPRINTED, NOT_SIGNED, RUNTIME, StrictModel, absolute_path


class TrainConfig(StrictModel):
    method: Literal["dpo", "sft", "sft-then-dpo"] = Field(
        "dpo",
        description="dpo: DPO straight from the (instruct) model, the default. sft: supervised fine-tuning on the "
        "reference answers of unknown questions. sft-then-dpo: SFT first, then DPO with the SFT checkpoint as the "
        "reference model (the knowledge-detection paper's recipe).",
    )
    finetune: Literal["lora", "qlora", "full"] = Field(
        "lora",
        description="lora: train a LoRA adapter (the DPO reference is the model with the adapter disabled). "
        "qlora: LoRA on 4-bit weights (needs a CUDA GPU and bitsandbytes). full: train every weight.",
    )
    beta: float = Field(0.1, gt=0.0, description="DPO beta (strength of the pull towards the reference model).")
    learning_rate: float = Field(2e-4, gt=0.0, description="AdamW learning rate of DPO.")
    num_epochs: float = Field(2.0, gt=0.0, description="DPO passes over the pairs.")
    sft_learning_rate: float = Field(2e-4, gt=0.0, description="AdamW learning rate of SFT.")
    sft_num_epochs: float = Field(1.0, gt=0.0, description="SFT passes over the SFT rows.")
    batch_size: int = Field(4, gt=0, description="Pairs (DPO) or rows (SFT) per optimizer step, per process.")
    gradient_accumulation_steps: int = Field(1, gt=0, description="Micro-batches per optimizer step.")
    max_length: int = Field(384, gt=16, description="Truncate prompt+completion to this many tokens.")
    precompute_ref_log_probs: bool = Field(
        True,
        description="Compute the frozen reference model's log-probs once before DPO instead of in every step "
        "(the reference never changes, so this saves a forward pass per step and per epoch).",
    )
    lora_r: int = Field(16, gt=0, description="LoRA rank.")
    lora_alpha: int = Field(32, gt=0, description="LoRA alpha.")
    lora_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="LoRA dropout.")
    lora_target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear",
        description="Modules that get LoRA adapters: 'all-linear' (every linear layer but the output) or names.",
    )
    init_adapter: str | None = Field(
        None,
        description="Continue training this LoRA adapter folder (e.g. the previous round's `adapter/`) instead "
        "of a fresh one; under DPO a frozen copy of it is the reference model.",
        json_schema_extra=NOT_SIGNED | FINGERPRINTED,
    )
    merge: bool = Field(False, description="Also save the LoRA adapter merged into full weights (`merged/`).")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="Mixed precision: auto = bf16 on a CUDA GPU that supports it, else fp32 (always fp32 on CPU).",
    )
    gradient_checkpointing: Literal["auto", "on", "off"] = Field(
        "auto", description="auto = on for CUDA GPUs (saves memory), off on CPU (it only costs time there)."
    )
    num_processes: int = Field(
        1, gt=0, description="Training processes (GPUs). Above 1, training runs under `accelerate launch`."
    )
    distributed: Literal["ddp", "deepspeed-zero2", "deepspeed-zero3", "fsdp"] = Field(
        "ddp",
        description="Multi-process strategy when num_processes > 1: one of the shipped accelerate configs "
        "(selftrain_core/stages/train/accelerate/).",
    )
    launcher: Literal["auto", "inline", "accelerate"] = Field(
        "auto",
        description="auto: in this process for one process, `accelerate launch` subprocess for more. "
        "accelerate forces the subprocess (useful to check the multi-GPU path on one device).",
        json_schema_extra=RUNTIME,
    )
    threads: int | None = Field(
        None, gt=0, description="torch CPU threads while training (default: all cores).", json_schema_extra=RUNTIME
    )
    report_to: list[Literal["tensorboard", "trackio", "wandb", "mlflow"]] = Field(
        default_factory=list,
        description="Training trackers (TRL's report_to). tensorboard and trackio: `pip install 'selftrain[tracking]'`"
        "; wandb and mlflow when installed. Empty: none (the losses are always in the train artifact's log table).",
        json_schema_extra=RUNTIME,
    )
    logging_dir: str = Field(
        "runs",
        description="TensorBoard logs go to <logging_dir>/<run_name>/<sft|dpo> (trackio: project 'selftrain', "
        "stored under TRACKIO_DIR).",
        json_schema_extra=RUNTIME,
    )
    run_name: str | None = Field(
        None, description="The trackers' run name (default: train-<artifact key>).", json_schema_extra=RUNTIME
    )

    @field_validator("init_adapter")
    @classmethod
    def _absolute(cls, path: str | None) -> str | None:
        return None if path is None else absolute_path(path)

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if self.init_adapter and self.finetune == "full":
            raise ValueError("train.init_adapter continues a LoRA adapter; it cannot be used with finetune=full")
        if self.merge and self.finetune == "full":
            raise ValueError("train.merge applies to LoRA adapters; finetune=full already saves full weights")
        return self
