"""The model to train: base weights (4-bit under QLoRA), a fresh LoRA config, or an existing adapter to continue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from selftrain_core.config import RunConfig
from selftrain_core.models.precision import training_dtype
from selftrain_core.models.resolve import resolve_model
from selftrain_core.stages.train.hardware import TrainingHardware


@dataclass
class TrainableModel:
    model: Any  # a transformers model, or a PeftModel when continuing an adapter
    tokenizer: Any
    peft_config: Any | None  # a LoraConfig for TRL to apply, or None (full fine-tuning / adapter already attached)


def lora_config(cfg: RunConfig):
    from peft import LoraConfig

    t = cfg.train
    return LoraConfig(
        r=t.lora_r,
        lora_alpha=t.lora_alpha,
        lora_dropout=t.lora_dropout,
        target_modules=t.lora_target_modules,
        task_type="CAUSAL_LM",
    )


def load_trainable(cfg: RunConfig, hw: TrainingHardware) -> TrainableModel:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = resolve_model(cfg.model.name, cfg.model.revision)
    tokenizer = AutoTokenizer.from_pretrained(base.path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    kwargs: dict[str, Any] = {"dtype": getattr(torch, training_dtype(cfg.model))}
    if cfg.train.finetune == "qlora":
        from transformers import BitsAndBytesConfig

        compute = torch.bfloat16 if hw.bf16 else torch.float16
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute,
        )
        kwargs["dtype"] = compute
    model = AutoModelForCausalLM.from_pretrained(base.path, **kwargs)
    if cfg.train.finetune == "full":
        return TrainableModel(model, tokenizer, None)
    if cfg.train.finetune == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=hw.gradient_checkpointing)
    if cfg.train.init_adapter:
        from peft import PeftModel

        return TrainableModel(
            PeftModel.from_pretrained(model, cfg.train.init_adapter, is_trainable=True), tokenizer, None
        )
    return TrainableModel(model, tokenizer, lora_config(cfg))
