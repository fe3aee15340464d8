"""A model's forwards with glibc's malloc as selftrain tunes it (models/allocator.py) and as glibc leaves it.

    OMP_NUM_THREADS=2 .venv/bin/python bench/allocator.py [--rounds 2] [--dtypes float32,bfloat16]

Each measurement runs in a fresh process (malloc's settings are per process), tuned and untuned in turn (A B B A ...):
SmolLM2-135M loaded by `load_causal_lm` (which tunes malloc unless SELFTRAIN_MALLOC_TUNING=0), then the body's
forward over a prefill batch (7 prompts x 282 tokens, the answers stage's size) and 32 decode-like forwards of 176
rows x 1 token against no cache, each timed best of 3 after one warm-up. Printed: milliseconds per forward and the
untuned / tuned ratio per round. Whole runs are the other measure (README, Wall time).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = """
import json, sys, time, torch
from selftrain_core.models.loading import load_causal_lm
from selftrain_core.models.resolve import resolve_model
lm = load_causal_lm(resolve_model("smollm2-135m-instruct"), sys.argv[1], "cpu")
torch.manual_seed(0)
prefill, decode = torch.randint(100, 40000, (7, 282)), torch.randint(100, 40000, (176, 1))
def best(ids, n):
    times = []
    with torch.inference_mode():
        lm(input_ids=ids)
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(n):
                lm(input_ids=ids)
            times.append((time.perf_counter() - start) / n)
    return 1000 * min(times)
print(json.dumps({"prefill": best(prefill, 1), "decode": best(decode, 32)}))
"""


def run(dtype: str, tuned: bool) -> dict[str, float]:
    env = {**os.environ, "SELFTRAIN_MALLOC_TUNING": "1" if tuned else "0"}
    out = subprocess.run([sys.executable, "-c", CHILD, dtype], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dtypes", default="float32,bfloat16")
    args = parser.parse_args()
    print("| dtype | forward | untuned ms (each round) | tuned ms (each round) | untuned / tuned (median) |")
    print("| --- | --- | --- | --- | --- |")
    for dtype in args.dtypes.split(","):
        runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
        for round_ in range(args.rounds):
            for tuned in (False, True) if round_ % 2 == 0 else (True, False):
                runs[tuned].append(run(dtype, tuned))
        for forward in ("prefill", "decode"):
            off, on = ([r[forward] for r in runs[t]] for t in (False, True))
            ratio = statistics.median(a / b for a, b in zip(off, on, strict=True))
            each = (" / ".join(f"{x:.1f}" for x in xs) for xs in (off, on))
            print(f"| {dtype} | {forward} | {next(each)} | {next(each)} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
