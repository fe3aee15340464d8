"""The output layer (LM head) of SmolLM2 at decode's row counts: one matmul over the vocabulary against blocks.

    OMP_NUM_THREADS=2 .venv/bin/python bench/lm_head.py [--out FILE]

A random float32 49152 x 576 weight (the shape of SmolLM2-135M's tied output layer); for each row count, the
median of --repeats timings of `F.linear` over the whole vocabulary and of the same product in blocks of vocabulary
rows (several block sizes), in one process, and whether the blocked logits are bit-equal to the plain ones on this
CPU. The ratio plain / blocked is what to compare across machines. The blocks are not used by the decode loop: in
the paired A/B of the whole decode they gave nothing (bench/results/lm_head.md).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
from pathlib import Path

import torch
import torch.nn.functional as F
from dpo_step import median_seconds as timed


def blocked_linear(hidden: torch.Tensor, weight: torch.Tensor, block: int) -> torch.Tensor:
    """`F.linear(hidden, weight)` computed block by block of `weight`'s rows."""
    return torch.cat([F.linear(hidden, part) for part in weight.split(block)], dim=-1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 8, 24, 48, 96, 200])
    parser.add_argument("--blocks", type=int, nargs="+", default=[256, 512, 1024, 2048])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.manual_seed(0)
    weight = torch.randn(49152, 576)
    head = "| rows | plain ms | " + " | ".join(f"block {b} ms" for b in args.blocks) + " | plain / best | bit-equal |"
    lines = [
        "# bench/lm_head.py",
        "",
        f"{datetime.date.today()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, load average "
        f"{os.getloadavg()[0]:.2f} at the start",
        "",
        head,
        "|" + " --- |" * (head.count("|") - 1),
    ]
    for rows in args.rows:
        hidden = torch.randn(rows, 576)
        plain = timed(lambda h=hidden: F.linear(h, weight), args.repeats)
        blocked = [timed(lambda b=b, h=hidden: blocked_linear(h, weight, b), args.repeats) for b in args.blocks]
        equal = all(torch.equal(F.linear(hidden, weight), blocked_linear(hidden, weight, b)) for b in args.blocks)
        cells = " | ".join(f"{s * 1e3:.1f}" for s in blocked)
        lines.append(f"| {rows} | {plain * 1e3:.1f} | {cells} | {plain / min(blocked):.2f}x | {equal} |")
        print(lines[-1], flush=True)
    lines.append(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    if args.out:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
