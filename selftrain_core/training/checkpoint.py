"""Save what training produced: a LoRA adapter (`adapter/`) or full weights (`model/`), optionally the adapter merged
into full weights (`merged/`), each with the tokenizer and a model card."""

from __future__ import annotations

CHECKPOINT_DIRS = {"adapter": "adapter", "full": "model", "merged": "merged"}


def checkpoint_kind(finetune: str) -> str:
    """'adapter' for LoRA and QLoRA, 'full' for full fine-tuning."""
    return "full" if finetune == "full" else "adapter"


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
