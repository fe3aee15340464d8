"""How close generation comes to this machine's matmul peak: measured matmul throughput against the stages' FLOPs.

    OMP_NUM_THREADS=2 .venv/bin/python bench/roofline.py [--out bench/results/roofline.md]

(with HF_HUB_OFFLINE=1 PREFECT_SERVER_ANALYTICS_ENABLED=false). On the offline default model (SmolLM2-135M, CPU):
- matmul: `F.linear` (what nn.Linear runs) at the model's shapes, [m, k] x [k, n] for MLP up/gate (576 x 1536),
  MLP down (1536 x 576), the attention projections q/o (576 x 576) and the LM head (576 x 49152), for m in --m
  (1 and 8: decode rows; 40 to 512: decode batches of n samples and prefill), in float32 and bfloat16; each cell
  the best of 3 timings after warm-up in each of two sweeps, one before the stages and one after; GFLOP/s =
  2 m k n / seconds. A dtype's peak is the best over shapes and m. Whether the CPU has native bf16 (the
  avx512_bf16 or amx_bf16 flag) is printed: without it bf16 matmuls are emulated.
- stages: the questions stage (greedy) and the answers stage (reference + K with-document + K no-document samples
  per question) on one Wikipedia category, timed whole (model load included) and inside the backend's generate,
  best of --repeats runs, each on a deleted artifact. Model FLOPs are counted from the model's forward calls:
  2 x (W - H) per real prompt token prefilled + 2 x H per prompt + 2 x W per decoded row, W the weights of every
  Linear layer incl. the LM head (the tied embedding counts once, as the head), H the head's: decoding prefills a
  prompt once for all the requests that read it and their n samples, and keeps the last position's logits only.
  Attention's context term (4 x layers x 576 x context per token) and padding are left out: the note under the
  table sizes the former. The token columns are the manifest's usage entry (prompt tokens once per request).
  Achieved GFLOP/s = model FLOPs / seconds, and its fraction of the measured peak for the stage's dtype
  (model.dtype, float32 by default; bfloat16 stages run only on a CPU with native bf16, or with --bf16-stages).
  A second table splits generate's time: the model's prefill forwards (real prompt tokens, padding left out, and
  the head once a prompt), its decode forwards (2 x W per row), and the rest (sampling, the loop, tokenizing).
The load average is printed: on a shared 2-core machine, 2 OpenMP threads with one core busy elsewhere slow the
decode steps (many small parallel regions) many-fold, prefill and large matmuls far less.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

from _overhead import build_config
from _roofline import (
    BF16_FLAGS,
    FORWARD_HEADER,
    SHAPES,
    STAGE_HEADER,
    StageTimes,
    attention_note,
    cpu_info,
    forward_row,
    generated_in_rows,
    matmul_gflops,
    since,
    stage_row,
    time_stage,
)

DTYPES = ("float32", "bfloat16")


def sweep(ms: list[int], start: float) -> dict[tuple[str, int, str], float]:
    """One pass over the layers, m and dtypes: (layer, m, dtype) -> GFLOP/s."""
    out = {}
    for layer, (k, n) in SHAPES.items():
        for m in ms:
            for dtype in DTYPES:
                out[layer, m, dtype] = matmul_gflops(m, k, n, dtype)
    print(f"matmul sweep done ({since(start)})", file=sys.stderr)
    return out


def matmul_lines(sweeps: list[dict], ms: list[int]) -> tuple[list[str], dict[str, float]]:
    """The matmul table, each cell the best of the sweeps (the machine may be shared), and each dtype's peak."""
    best = {cell: max(s[cell] for s in sweeps) for cell in sweeps[0]}
    lines = ["| layer | m x k x n | float32 GFLOP/s | bfloat16 GFLOP/s |", "| --- | --- | --- | --- |"]
    for layer, (k, n) in SHAPES.items():
        lines += [
            f"| {layer} | {m} x {k} x {n} | " + " | ".join(f"{best[layer, m, d]:.1f}" for d in DTYPES) + " |"
            for m in ms
        ]
    peaks = {d: max((g, f"{layer}, m={m}") for (layer, m, dt), g in best.items() if dt == d) for d in DTYPES}
    lines += ["", "peak: " + "; ".join(f"{d} {g:.1f} GFLOP/s ({where})" for d, (g, where) in peaks.items())]
    return lines, {d: g for d, (g, _) in peaks.items()}


def run_stages(cfg, dtypes: list[str], repeats: int, start: float) -> list[tuple[str, str, StageTimes, int | None]]:
    """(stage, dtype, times, for answers the generated tokens counted from the token logprobs in its rows) of the
    questions and answers stages in each dtype, after ingest and chunk (untimed)."""
    from selftrain_core.stages.answers import stage as answers
    from selftrain_core.stages.base import RunInfo
    from selftrain_core.stages.chunk import stage as chunk
    from selftrain_core.stages.ingest import stage as ingest
    from selftrain_core.stages.questions import stage as questions
    from selftrain_core.store import ArtifactStore

    store, quiet = ArtifactStore(cfg.artifact_root), lambda _: None
    docs = ingest.run(cfg, ingest.plan(cfg), store, RunInfo(), quiet)
    chunks = chunk.run(cfg, chunk.plan(cfg, docs), store, RunInfo(), quiet)
    out = []
    for dtype in dtypes:
        dcfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"dtype": dtype})})
        q, q_ref = time_stage(questions, dcfg, questions.plan(dcfg, chunks), store, repeats)
        print(f"questions stage, {dtype} done ({since(start)})", file=sys.stderr)
        a, a_ref = time_stage(answers, dcfg, answers.plan(dcfg, q_ref, chunks), store, repeats)
        print(f"answers stage, {dtype} done ({since(start)})", file=sys.stderr)
        out += [("questions", dtype, q, None), ("answers", dtype, a, generated_in_rows(store.read_rows(a_ref)))]
    return out


def stage_lines(stages: list[tuple[str, str, StageTimes, int | None]], peaks: dict[str, float]) -> list[str]:
    """The stages' table, where generate's time goes, notes, and the answers stage's fraction of its peak."""
    rows, forwards, notes, summary = list(STAGE_HEADER), ["", *FORWARD_HEADER], [""], []
    for name, dtype, t, counted in stages:
        rows.append(stage_row(name, dtype, t, peaks[dtype]))
        forwards.append(forward_row(name, dtype, t, peaks[dtype]))
        if dtype == stages[0][1]:
            notes.append(attention_note(name, t))
        if name == "answers":
            notes.append(
                f"- answers, {dtype}: model load {t.open_s:.2f} s of its {t.wall_s:.2f} s wall time; {counted} "
                f"generated tokens in its rows' token logprobs (usage entry: {t.usage['completion_tokens']})"
            )
            flops, peak = t.flops() / 1e9, peaks[dtype]
            summary.append(
                f"answers stage, {dtype}: {flops / t.wall_s / peak:.1%} of the measured {dtype} matmul peak over its "
                f"wall time, {flops / t.generate_s / peak:.1%} inside generate (goal: >= 50%)"
            )
    return rows + forwards + notes + [""] + summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=6, help="documents (one question each)")
    parser.add_argument("--k", type=int, default=3, help="answers' samples per role (with / without the document)")
    parser.add_argument("--tokens", type=int, default=32, help="answers' max new tokens")
    parser.add_argument("--m", default="1,8,40,160,512", help="comma-separated matmul rows (tokens in one call)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each stage (best-of)")
    parser.add_argument("--bf16-stages", action="store_true", help="run the stages in bfloat16 without native bf16")
    parser.add_argument("--out", type=Path, help="also write the report here (markdown)")
    args = parser.parse_args()

    import torch

    start, load = time.perf_counter(), f"{os.getloadavg()[0]:.2f}"
    name, bf16_flags = cpu_info()
    native = bool(bf16_flags)
    dtypes = ["float32", "bfloat16"] if native or args.bf16_stages else ["float32"]
    lines = [
        f"machine: {name}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads, torch {torch.__version__} "
        f"({torch.backends.cpu.get_cpu_capability()}); native bf16 flags: {', '.join(bf16_flags) or 'none'} "
        f"(of {', '.join(BF16_FLAGS)})",
        f"stages: SmolLM2-135M on CPU, {args.questions} documents, K={args.k}, answers' max {args.tokens} new tokens, "
        f"best of {args.repeats} runs; stage dtypes: {', '.join(dtypes)}"
        + ("" if "bfloat16" in dtypes else " (bfloat16 skipped: no native bf16 on this CPU)"),
        "",
    ]
    ms = [int(m) for m in args.m.split(",")]
    sweeps = [sweep(ms, start)]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = build_config(Path(tmp) / "root", args.questions, args.k, args.tokens)
        stages = run_stages(cfg, dtypes, args.repeats, start)
    sweeps.append(sweep(ms, start))  # before and after the stages: a busy spell on a shared machine spoils one
    table, peaks = matmul_lines(sweeps, ms)
    lines += table + [""] + stage_lines(stages, peaks)
    lines[0] += f"; load average {load} at the start, {os.getloadavg()[0]:.2f} at the end"
    print("\n".join(lines))
    if args.out:
        command = " ".join(["OMP_NUM_THREADS=2 .venv/bin/python bench/roofline.py", *sys.argv[1:]])
        head = ["# bench/roofline.py", "", f"`{command}`, {datetime.date.today()}, {since(start)} in all.", ""]
        args.out.write_text("\n".join(head + lines) + "\n")


if __name__ == "__main__":
    main()
