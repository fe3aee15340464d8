"""How much of a trained LoRA update survives being merged into bfloat16 weights.

    .venv/bin/python bench/bf16_merge.py ARTIFACTS/train/<key>/adapter

The policy (the offline default's SmolLM2-135M) is loaded with the adapter merged, as the hf backend loads a trained
arm (models/loading.py: PEFT merge_and_unload), in float32 and in bfloat16, and each merged weight is compared with
its own dtype's base weight. Printed: the share of updated weights (those the float32 merge changed) that the
bfloat16 merge left unchanged, and the projection of the bfloat16 update on the float32 one over its squared norm
(1: all of the update kept). Why `model.dtype: auto` keeps float32 where trained adapters run or are measured
(selftrain_core/models/precision.py).
"""

from __future__ import annotations

import argparse

import torch

from selftrain_core.models.loading import load_causal_lm
from selftrain_core.models.resolve import resolve_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("adapter", help="a trained adapter folder (a train artifact's adapter/)")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    args = parser.parse_args()
    model = resolve_model(args.model)
    weights = {
        (dtype, merged): dict(load_causal_lm(model, dtype, "cpu", args.adapter if merged else None).named_parameters())
        for dtype in ("float32", "bfloat16")
        for merged in (False, True)
    }
    along = norm = 0.0
    vanished = updated = 0
    with torch.no_grad():
        for name, merged32 in weights["float32", True].items():
            update = merged32 - weights["float32", False][name]
            if not update.any():
                continue
            update16 = weights["bfloat16", True][name].float() - weights["bfloat16", False][name].float()
            along += float((update16 * update).sum())
            norm += float((update * update).sum())
            changed = update != 0
            updated += int(changed.sum())
            vanished += int((changed & (update16 == 0)).sum())
    print(
        f"adapter {args.adapter}: {updated} weights updated in the float32 merge; the bfloat16 merge left "
        f"{100 * vanished / updated:.0f}% of them unchanged and kept {along / norm:.2f} of the update "
        "(projection on the float32 update / its squared norm)"
    )


if __name__ == "__main__":
    main()
