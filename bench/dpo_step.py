"""DPO step time vs a plain forward+backward of the same tokens, on the offline default model (SmolLM2-135M).

    .venv/bin/python bench/dpo_step.py [--pairs 16] [--batch 4] [--trl-defaults] [--bf16]

Pairs are built from the offline Wikipedia summaries (question "What is <title>?", chosen = the first sentence of
its summary, rejected = the first sentence of another's), the shape of the curated data (~30-token answers). Every
time is a median over repeats on the same batch (the first batch TRL's collator builds: chosen + rejected rows), in
this one run; the ratios are what to compare across machines:
- `DPO step`: TRL's training_step (loss, backward) + AdamW step, as Trainer.train takes it, with selftrain's
  settings (LoRA on all linear layers, fp32, no gradient checkpointing, reference log-probs precomputed);
- the same with the reference forward in every step, and (--trl-defaults, slow) with TRL's own defaults
  (bf16 autocast + gradient checkpointing); (--bf16) selftrain's settings with bf16 autocast;
- the same scoring every position through the LM head, prompt tokens included (what TRL does on a CPU; selftrain
  scores the completion tokens only: selftrain_core/stages/train/lm_head.py), and TRL's defaults score that way too;
- `plain fwd+bwd`: the whole model (no LoRA), ordinary logits and an LM loss, backward, on the same tokens;
- the parts of a step: policy forward, forward+backward, reference forward.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable


def make_pairs(n: int, seed: int = 0) -> list[dict]:
    from selftrain_core.prompts import load_prompt
    from selftrain_core.stages.ingest.sources.wiki_vital import data_file

    items = [v for v in json.loads(data_file().read_text()).values() if len(v.get("extract", "")) > 200]
    random.Random(seed).shuffle(items)
    prompt = load_prompt("answer_without_document")

    def first(text: str) -> str:
        return text.split(". ")[0][:200].rstrip(".") + "."

    return [
        {
            "prompt": prompt.messages(question=f"What is {a['title']}?"),
            "chosen": [{"role": "assistant", "content": first(a["extract"])}],
            "rejected": [{"role": "assistant", "content": first(b["extract"])}],
        }
        for a, b in zip(items[0 : 2 * n : 2], items[1 : 2 * n : 2], strict=True)
    ]


def median_seconds(fn, reps: int = 3) -> float:
    fn()  # warm-up: allocations, oneDNN primitives
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def dpo_trainer(pairs, batch: int, precompute: bool, trl_defaults: bool = False, bf16: bool = False):
    """The DPOTrainer that training builds (trainers.make_trainer, selftrain's settings), ready to step; with
    trl_defaults, as on hardware where the train code keeps TRL's bf16 + gradient checkpointing defaults; with
    bf16, bf16 autocast alone (what train.precision=bf16 would be on a CPU, which the train code refuses now)."""
    import torch
    from trl import DPOTrainer

    from selftrain_core.config import RunConfig
    from selftrain_core.stages.train.hardware import training_hardware
    from selftrain_core.stages.train.model import load_trainable
    from selftrain_core.stages.train.trainers import dpo_args, make_trainer

    train = {"batch_size": batch, "num_epochs": 1, "precompute_ref_log_probs": precompute}
    cfg = RunConfig.model_validate({"train": train, "model": {"device": "cpu"}})
    hw = training_hardware(cfg.train, "cpu")
    if trl_defaults:  # the train code turns both off on CPU (fp32 always): force them to time TRL's defaults
        hw = dataclasses.replace(hw, bf16=True, gradient_checkpointing=True)
    if bf16:
        hw = dataclasses.replace(hw, bf16=True)
    torch.manual_seed(0)
    trainable = load_trainable(cfg, hw)
    args = dpo_args(cfg, hw, tempfile.mkdtemp(prefix="bench-dpo-"))
    trainer = make_trainer(cfg, DPOTrainer, args, trainable, pairs, "dpo")
    if args.gradient_checkpointing:  # Trainer.train turns it on; we step without train()
        trainer.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=args.gradient_checkpointing_kwargs)
    trainer.create_optimizer_and_scheduler(num_training_steps=10)
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer.train's loop otherwise
    trainer.model.train()
    return trainer


def dpo_step(trainer, batch) -> Callable[[], None]:
    """One optimizer step as Trainer.train takes it: loss (+ reference), backward, AdamW, zero_grad."""

    def step():
        trainer.training_step(trainer.model, batch)
        trainer.optimizer.step()
        trainer.optimizer.zero_grad(set_to_none=True)

    return step


def policy_parts(trainer, batch) -> dict[str, float]:
    """Where a step's time goes: the policy forward alone, forward+backward, the reference forward."""
    import torch
    from trl.trainer.dpo_trainer import use_adapter

    model = trainer.model
    ids, mask = batch["input_ids"], batch["attention_mask"]
    labels = ids.masked_fill(batch["completion_mask"] == 0, -100)

    def forward():
        with torch.no_grad():
            model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True, use_cache=False)

    def forward_backward():
        out = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True, use_cache=False)
        out.log_probs.sum().backward()
        model.zero_grad(set_to_none=True)

    def reference():
        with use_adapter(model, None):
            forward()

    return {
        "policy forward (no grad)": median_seconds(forward),
        "policy forward+backward (LoRA)": median_seconds(forward_backward),
        "reference forward (adapter disabled)": median_seconds(reference),
    }


def plain_forward_backward(batch_inputs, reps: int = 3) -> list[float]:
    import torch
    from transformers import AutoModelForCausalLM

    from selftrain_core.models.resolve import resolve_model

    model = AutoModelForCausalLM.from_pretrained(resolve_model("smollm2-135m-instruct").path, dtype=torch.float32)
    ids, mask = batch_inputs["input_ids"], batch_inputs["attention_mask"]
    times = []
    for _ in range(reps + 1):
        start = time.perf_counter()
        model(input_ids=ids, attention_mask=mask, labels=ids.masked_fill(mask == 0, -100)).loss.backward()
        model.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return times[1:]  # the first call allocates


def main() -> None:
    from selftrain_core.stages.train.lm_head import completion_scoring_on_cpu

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--trl-defaults", action="store_true", help="also time TRL's bf16 + checkpointing defaults")
    parser.add_argument("--bf16", action="store_true", help="also time bf16 autocast alone (precomputed reference)")
    args = parser.parse_args()
    import torch

    pairs = make_pairs(args.pairs)
    with completion_scoring_on_cpu():  # as training runs: only the completion tokens scored
        ours = dpo_trainer(pairs, args.batch, precompute=True)
        batch = next(iter(ours.get_train_dataloader()))  # carries the precomputed reference log-probs
        rows = [("DPO step, selftrain (LoRA, fp32, precomputed reference)", median_seconds(dpo_step(ours, batch)))]
        parts = policy_parts(ours, batch)
        every = dpo_trainer(pairs, args.batch, precompute=False)
        plain_batch = {k: v for k, v in batch.items() if not k.startswith("ref_")}
        rows.append(("DPO step, reference forward in every step", median_seconds(dpo_step(every, plain_batch))))
        if args.bf16:
            half = dpo_trainer(pairs, args.batch, precompute=True, bf16=True)
            rows.append(("DPO step, bf16 autocast (precomputed reference)", median_seconds(dpo_step(half, batch))))
    rows.append(("DPO step, selftrain but every position scored (TRL on a CPU)", median_seconds(dpo_step(ours, batch))))
    if args.trl_defaults:
        slow = dpo_trainer(pairs, args.batch, precompute=False, trl_defaults=True)
        rows.append(
            (
                "DPO step, TRL defaults (bf16 autocast + gradient checkpointing)",
                median_seconds(dpo_step(slow, plain_batch), 1),
            )
        )
    plain = statistics.median(plain_forward_backward(batch))
    shape = tuple(batch["input_ids"].shape)
    print(
        f"batch: {args.batch} pairs -> input_ids {shape} (chosen + rejected rows), "
        f"torch threads {torch.get_num_threads()}"
    )
    print("| what (same tokens) | median s | vs plain fwd+bwd |\n|---|---|---|")
    print(f"| plain fwd+bwd, whole model (no LoRA), full logits | {plain:.2f} | 1.00x |")
    for label, seconds in rows + list(parts.items()):
        print(f"| {label} | {seconds:.2f} | {seconds / plain:.2f}x |")


if __name__ == "__main__":
    main()
