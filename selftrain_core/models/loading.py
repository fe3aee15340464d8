"""Load tokenizers, causal LMs (optionally with a LoRA adapter) and sentence embedders from resolved folders."""

from __future__ import annotations

from typing import TYPE_CHECKING

from selftrain_core.models.allocator import keep_freed_memory
from selftrain_core.models.resolve import ResolvedModel

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def pick_device(device: str = "auto") -> str:
    import torch

    if device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_tokenizer(model: ResolvedModel) -> PreTrainedTokenizerBase:
    """Left-padding tokenizer (decoder-only batched generation) with a pad token."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model.path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(
    model: ResolvedModel, dtype: str = "float32", device: str = "auto", adapter_path: str | None = None
) -> PreTrainedModel:
    """The model in eval mode on `device`; with `adapter_path`, a PEFT adapter merged in for fast inference."""
    import torch
    from transformers import AutoModelForCausalLM

    keep_freed_memory()  # a forward's tensors reuse freed memory, not fresh pages (allocator.py)
    lm = AutoModelForCausalLM.from_pretrained(model.path, dtype=getattr(torch, dtype))
    if adapter_path is not None:
        from peft import PeftModel

        lm = PeftModel.from_pretrained(lm, adapter_path).merge_and_unload()
    return lm.to(pick_device(device)).eval()


def load_embedder(model: ResolvedModel, device: str = "auto") -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    keep_freed_memory()  # as for the causal LM: its batches reuse freed memory
    return SentenceTransformer(model.path, device=pick_device(device))
