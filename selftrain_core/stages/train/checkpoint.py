"""Save what training produced: a LoRA adapter (`adapter/`) or full weights (`model/`), optionally the adapter merged
into full weights (`merged/`), each with the tokenizer and a model card."""

from __future__ import annotations

import json
from pathlib import Path

CHECKPOINT_DIRS = {"adapter": "adapter", "full": "model", "merged": "merged"}


def checkpoint_kind(finetune: str) -> str:
    """'adapter' for LoRA and QLoRA, 'full' for full fine-tuning."""
    return "full" if finetune == "full" else "adapter"


def make_reproducible(folder: str) -> None:
    """Make a saved checkpoint byte-identical across processes, and pickle-free.

    Trainer.save_model also writes `training_args.bin` (a torch pickle of the arguments): removed, the training
    config is in the model card and the manifest. PEFT writes `target_modules` from a set, in hash order: sorted.
    """
    path = Path(folder)
    (path / "training_args.bin").unlink(missing_ok=True)
    config = path / "adapter_config.json"
    if config.is_file():
        data = json.loads(config.read_text(encoding="utf-8"))
        if isinstance(data.get("target_modules"), list):
            data["target_modules"] = sorted(data["target_modules"])
        config.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def merge_adapter(base_path: str, adapter_dir: str, folder: str, dtype: str = "float32") -> None:
    """Base + adapter folded into plain weights (loadable without peft), from the saved files, so it works the same
    after sharded multi-process training. The base is loaded unquantized, so a QLoRA adapter merges into full
    precision weights."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=getattr(torch, dtype))
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    merged.save_pretrained(folder)
    AutoTokenizer.from_pretrained(adapter_dir).save_pretrained(folder)
