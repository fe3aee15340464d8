"""DPO step time vs a plain forward+backward of the same tokens, on the offline default model (SmolLM2-135M).

    .venv/bin/python bench/dpo_step.py [--pairs 16] [--batch 4] [--trl-defaults]

Pairs are built from the offline Wikipedia summaries (question "What is <title>?", chosen = the first sentence of
its summary, rejected = the first sentence of another's), the shape of the curated data (~30-token answers). Every
number comes from this one run; the ratios are what to compare across machines:
- `dpo step`: a TRL DPOTrainer optimizer step with selftrain's settings (LoRA, fp32, no gradient checkpointing,
  reference log-probs precomputed), median over the steps after the first;
- the same with the reference forward in every step (precompute off), and optionally with TRL's own defaults
  (bf16 autocast + gradient checkpointing: --trl-defaults, slow);
- `plain fwd+bwd`: the whole model (no LoRA), forward with ordinary logits and an LM loss, backward, on the
  exact padded batch the DPO collator built (chosen + rejected rows).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time


def make_pairs(n: int, seed: int = 0) -> list[dict]:
    from selftrain_core.prompts import load_prompt
    from selftrain_core.sources.wiki_vital import data_file

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


def dpo_steps(pairs, batch: int, precompute: bool, trl_defaults: bool = False, max_steps: int = 4):
    """(step seconds, first batch) of a TRL DPO run with selftrain's settings."""
    import torch
    from transformers import TrainerCallback

    from selftrain_core.config import RunConfig
    from selftrain_core.training.hardware import training_hardware
    from selftrain_core.training.model import load_trainable
    from selftrain_core.training.trainers import dpo_args

    cfg = RunConfig.model_validate(
        {
            "train": {"batch_size": batch, "num_epochs": 1, "precompute_ref_log_probs": precompute},
            "model": {"device": "cpu"},
        }
    )
    hw = training_hardware(cfg.train, "cpu")
    torch.manual_seed(0)
    trainable = load_trainable(cfg, hw)
    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, *args, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, *args, **kwargs):
            times.append(time.perf_counter() - self.start)

    from datasets import Dataset
    from trl import DPOTrainer

    with tempfile.TemporaryDirectory() as tmp:
        args = dpo_args(cfg, hw, tmp)
        args.max_steps = max_steps
        if trl_defaults:  # what TRL's DPOConfig does unless told otherwise
            args.bf16, args.gradient_checkpointing = True, True
        trainer = DPOTrainer(
            model=trainable.model,
            args=args,
            train_dataset=Dataset.from_list(pairs),
            processing_class=trainable.tokenizer,
            peft_config=trainable.peft_config,
            callbacks=[Timer()],
        )
        batch_inputs = next(iter(trainer.get_train_dataloader()))
        trainer.train()
    return times, batch_inputs


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
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--trl-defaults", action="store_true", help="also time TRL's bf16 + checkpointing defaults")
    args = parser.parse_args()
    import torch

    pairs = make_pairs(args.pairs)
    ours, batch = dpo_steps(pairs, args.batch, precompute=True)
    every_step, _ = dpo_steps(pairs, args.batch, precompute=False)
    plain = plain_forward_backward(batch)
    rows = [("dpo step (selftrain: LoRA, fp32, precomputed reference)", ours)]
    rows.append(("dpo step, reference forward every step", every_step))
    if args.trl_defaults:
        rows.append(
            (
                "dpo step, TRL defaults (bf16 autocast + gradient checkpointing)",
                dpo_steps(pairs, args.batch, True, True, 2)[0],
            )
        )
    base = statistics.median(plain)
    shape = tuple(batch["input_ids"].shape)
    print(
        f"batch: {args.batch} pairs -> input_ids {shape} (chosen + rejected rows), "
        f"torch threads {torch.get_num_threads()}"
    )
    print("| what | median s | vs plain fwd+bwd |\n|---|---|---|")
    print(f"| plain fwd+bwd, whole model, {shape[0]} x {shape[1]} tokens | {base:.2f} | 1.00x |")
    for label, times in rows:
        steady = times[1:] or times
        print(f"| {label} | {statistics.median(steady):.2f} | {statistics.median(steady) / base:.2f}x |")


if __name__ == "__main__":
    main()
