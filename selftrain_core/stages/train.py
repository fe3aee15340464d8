"""Stage train: DPO pairs + base model -> a LoRA adapter (and optionally merged weights) with a model card.

TRL's DPOTrainer with a PEFT LoRA config; the reference model is the base with the adapter disabled. On CPU,
bf16 and gradient checkpointing are switched off (TRL turns both on by default; on these CPUs they make a step
about 13x slower). Files: `adapter/` (adapter_config.json, adapter_model.safetensors, README.md model card),
`merged/` when asked, and a `log` table of the trainer's logged metrics per step.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from selftrain_core.config import RunConfig
from selftrain_core.config_base import result_settings
from selftrain_core.errors import StageInputError
from selftrain_core.models.loading import pick_device
from selftrain_core.models.resolve import resolve_model
from selftrain_core.stages.base import RunInfo, StagePlan, execute, make_plan
from selftrain_core.stages.model_card import write_model_card
from selftrain_core.store import ArtifactRef, ArtifactStore

STAGE, VERSION = "train", 1


def plan(cfg: RunConfig, curated: ArtifactRef) -> StagePlan:
    model = resolve_model(cfg.model.name, cfg.model.revision)
    settings = {"train": result_settings(cfg.train), "seed": cfg.seed, "dtype": cfg.model.dtype}
    return make_plan(
        STAGE,
        VERSION,
        settings,
        [curated],
        [model.manifest_entry("base")],
        runtime={"device": cfg.model.device},
    )


def dpo_config(cfg: RunConfig, output_dir: str, device: str):
    from trl import DPOConfig

    t = cfg.train
    on_gpu = device.startswith("cuda")
    return DPOConfig(
        output_dir=output_dir,
        per_device_train_batch_size=t.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        num_train_epochs=t.num_epochs,
        learning_rate=t.learning_rate,
        beta=t.beta,
        max_length=t.max_length,
        bf16=on_gpu and cfg.model.dtype == "bfloat16",
        fp16=False,
        gradient_checkpointing=False,
        use_cpu=not on_gpu,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=cfg.seed,
        data_seed=cfg.seed,
        lr_scheduler_type="constant",
        dataloader_num_workers=0,
    )


def train_dpo(cfg: RunConfig, pairs: list[dict[str, Any]], output_dir: str, callbacks: list | None = None):
    """Train and return (peft model, tokenizer, log history)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOTrainer

    base = resolve_model(cfg.model.name, cfg.model.revision)
    device = pick_device(cfg.model.device)
    torch.manual_seed(cfg.seed)
    tokenizer = AutoTokenizer.from_pretrained(base.path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(base.path, dtype=getattr(torch, cfg.model.dtype))
    t = cfg.train
    lora = LoraConfig(
        r=t.lora_r,
        lora_alpha=t.lora_alpha,
        lora_dropout=t.lora_dropout,
        target_modules=t.lora_target_modules,
        task_type="CAUSAL_LM",
    )
    dataset = Dataset.from_list(
        [{"prompt": p["prompt"], "chosen": p["chosen"], "rejected": p["rejected"]} for p in pairs]
    )
    trainer = DPOTrainer(
        model=model,
        args=dpo_config(cfg, output_dir, device),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=callbacks,
    )
    trainer.train()
    return trainer.model, tokenizer, trainer.state.log_history


def log_table(history: list[dict[str, Any]]) -> pa.Table:
    rows = [
        {k: float(v) for k, v in entry.items() if isinstance(v, int | float) and math.isfinite(v)}
        for entry in history
        if "loss" in entry
    ]
    return pa.Table.from_pylist(rows)


def run(
    cfg: RunConfig,
    plan: StagePlan,
    store: ArtifactStore,
    run_info: RunInfo,
    log: Callable[[str], None] = print,
) -> ArtifactRef:
    def compute(writer):
        curated = plan.parent("curate")
        pairs = store.read_rows(curated)
        if not pairs:
            drops = store.manifest(curated.stage, curated.key).get("drops", {})
            raise StageInputError(
                f"no DPO pairs to train on (curate {curated.key} dropped every question: {drops}); "
                "lower curate.known_threshold or curate.answerable_threshold, or add documents"
            )
        with writer.local_dir("adapter") as adapter_dir:
            model, tokenizer, history = train_dpo(cfg, pairs, adapter_dir + "/.trainer")
            model.save_pretrained(adapter_dir)
            tokenizer.save_pretrained(adapter_dir)
            shutil.rmtree(adapter_dir + "/.trainer", ignore_errors=True)
            final = {k: v for k, v in (history[-1] if history else {}).items() if isinstance(v, int | float)}
            write_model_card(adapter_dir, cfg, plan, len(pairs), final)
        if cfg.train.merge:
            with writer.local_dir("merged") as merged_dir:
                model.merge_and_unload().save_pretrained(merged_dir)
                tokenizer.save_pretrained(merged_dir)
        writer.write_table("log", log_table(history))
        return {"pairs": len(pairs), "final_metrics": final, "adapter": "adapter", "merged": cfg.train.merge}

    return execute(plan, store, run_info, compute, log)
