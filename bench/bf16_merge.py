"""How much of a trained LoRA update survives in bfloat16: in the weights, and in the model's outputs, merged or not.

    .venv/bin/python bench/bf16_merge.py ARTIFACTS/train/<key>/adapter [--prompts 16]

The policy (the offline default's SmolLM2-135M) is loaded with the adapter merged, as the hf backend loads a trained
arm (models/loading.py: PEFT merge_and_unload), in float32 and in bfloat16, and each merged weight is compared with
its own dtype's base weight. Printed: the share of updated weights (those the float32 merge changed) that the
bfloat16 merge left unchanged, and the projection of the bfloat16 update on the float32 one over its squared norm
(1: all of the update kept).

Then the same question asked of the model's outputs: the adapter's effect on the log-probabilities of every position
of `--prompts` chat prompts (a wiki-vital summary and a question about its subject: text no model of ours wrote), in
float32 merged (the reference: merged minus base) against bfloat16 merged and bfloat16 with the adapter unmerged
(PEFT's LoRA layers, the adapter's weights in float32 by PEFT's default), each minus the bfloat16 base. Printed: the
projection on the reference over its squared norm, the cosine, how far bfloat16's own rounding moves the base (the
noise floor, against the reference's norm), and the forwards' time, merged against unmerged.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from selftrain_core.models.loading import load_causal_lm, load_tokenizer
from selftrain_core.models.resolve import resolve_model


def merged(model, dtype: str, adapter: str):
    return load_causal_lm(model, dtype, "cpu", adapter)  # as the hf backend loads a trained arm


def unmerged(model, dtype: str, adapter: str):
    from peft import PeftModel

    return PeftModel.from_pretrained(load_causal_lm(model, dtype, "cpu"), adapter).eval()


def weight_report(model, adapter: str) -> str:
    base = {d: dict(load_causal_lm(model, d, "cpu").named_parameters()) for d in ("float32", "bfloat16")}
    full = {d: dict(merged(model, d, adapter).named_parameters()) for d in ("float32", "bfloat16")}
    along = norm = 0.0
    vanished = updated = 0
    with torch.no_grad():
        for name, merged32 in full["float32"].items():
            update = merged32 - base["float32"][name]
            if not update.any():
                continue
            update16 = full["bfloat16"][name].float() - base["bfloat16"][name].float()
            along += float((update16 * update).sum())
            norm += float((update * update).sum())
            changed = update != 0
            updated += int(changed.sum())
            vanished += int((changed & (update16 == 0)).sum())
    return (
        f"weights: {updated} updated in the float32 merge; the bfloat16 merge left {100 * vanished / updated:.0f}% "
        f"of them unchanged and kept {along / norm:.2f} of the update (projection on the float32 update / its "
        "squared norm)"
    )


def prompts(tokenizer, n: int) -> list[torch.Tensor]:
    from selftrain_core.stages.ingest.sources.wiki_vital import data_file

    summaries = json.loads(data_file().read_text(encoding="utf-8"))
    out = []
    for title in sorted(summaries)[:n]:
        text = f"{summaries[title]['extract']}\n\nQuestion: what is {title}? Answer in one sentence."
        messages = [{"role": "user", "content": text}]
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"]
        out.append(torch.tensor([ids[-256:]]))
    return out


@torch.inference_mode()
def logprobs(lm, inputs: list[torch.Tensor]) -> tuple[torch.Tensor, float]:
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        out = torch.cat([lm(input_ids=ids).logits[0].float().log_softmax(-1) for ids in inputs])
        best = min(best, time.perf_counter() - start)
    return out, best


def output_report(model, adapter: str, n: int) -> list[str]:
    inputs = prompts(load_tokenizer(model), n)
    base32, _ = logprobs(load_causal_lm(model, "float32", "cpu"), inputs)
    reference = logprobs(merged(model, "float32", adapter), inputs)[0] - base32
    base16, _ = logprobs(load_causal_lm(model, "bfloat16", "cpu"), inputs)
    noise = float((base16 - base32).norm() / reference.norm())
    lines = [
        f"outputs: {n} prompts, {len(reference)} positions; the float32 update's norm {reference.norm():.1f}; "
        f"bfloat16's rounding of the base alone moves the log-probs by {noise:.2f} of it"
    ]
    for name, lm in (
        ("bfloat16, merged", merged(model, "bfloat16", adapter)),
        ("bfloat16, unmerged", unmerged(model, "bfloat16", adapter)),
    ):
        out, seconds = logprobs(lm, inputs)
        effect = out - base16
        kept = float((effect * reference).sum() / (reference * reference).sum())
        cosine = float(torch.nn.functional.cosine_similarity(effect.flatten(), reference.flatten(), dim=0))
        lines.append(f"{name}: kept {kept:.2f} of the update (cosine {cosine:.2f}); forwards {seconds:.2f} s")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("adapter", help="a trained adapter folder (a train artifact's adapter/)")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--prompts", type=int, default=16)
    args = parser.parse_args()
    model = resolve_model(args.model)
    print(f"adapter {args.adapter}")
    print(weight_report(model, args.adapter))
    for line in output_report(model, args.adapter, args.prompts):
        print(line)


if __name__ == "__main__":
    main()
