"""What bench/roofline.py measures with: the CPU's bf16 support, matmul throughput at the model's shapes, the model's
FLOPs per token, and a generating stage timed whole and inside its backend's generate, with its usage entry."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from pathlib import Path

from _overhead import timed

# (k, n) of the model's Linear layers (SmolLM2-135M: hidden 576, MLP 1536, vocabulary 49152), run as [m, k] x [k, n]
SHAPES = {
    "MLP up/gate": (576, 1536),
    "MLP down": (1536, 576),
    "attention q/o": (576, 576),
    "LM head": (576, 49152),
}
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_info() -> tuple[str, list[str]]:
    """The CPU's model name (/proc/cpuinfo, else platform's) and which native bf16 flags it has."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return name, []
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            name = value.strip()
        elif key.strip() == "flags":
            flags = set(value.split())
    return name, [f for f in BF16_FLAGS if f in flags]


def matmul_gflops(m: int, k: int, n: int, dtype: str, repeats: int = 3, min_s: float = 0.03) -> float:
    """GFLOP/s of `F.linear` ([m, k] input, [n, k] weight: what nn.Linear runs), best of `repeats` timings after
    two warm-up calls; each timing repeats the call until it lasts about `min_s`."""
    import torch
    import torch.nn.functional as F

    x, w = torch.randn(m, k, dtype=getattr(torch, dtype)), torch.randn(n, k, dtype=getattr(torch, dtype))
    with torch.inference_mode():
        F.linear(x, w)
        once = timed(lambda: F.linear(x, w))[0]
        reps = max(1, min(1000, int(min_s / max(once, 1e-6))))
        best = min(timed(lambda: [F.linear(x, w) for _ in range(reps)])[0] / reps for _ in range(repeats))
    return 2 * m * k * n / best / 1e9


@dataclass(frozen=True)
class ModelCount:
    linear: int  # weights of every Linear layer incl. the LM head (a tied embedding counts once, as the head)
    head: int  # the LM head's weights
    layers: int
    attention_width: int  # query heads x head dim: attention's context term is 4 * layers * width * context


def count_model(model) -> ModelCount:
    import torch

    weights = {id(m.weight): m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear)}
    config = model.config
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return ModelCount(
        linear=sum(weights.values()),
        head=model.get_output_embeddings().weight.numel(),
        layers=config.num_hidden_layers,
        attention_width=config.num_attention_heads * head_dim,
    )


@dataclass
class Forwards:
    """The model's forward calls inside generate, split into prefill (a prompt batch) and decode (one token a row)."""

    prefill_s: float = 0.0
    prefill_calls: int = 0
    prefill_tokens: int = 0  # prompt tokens, padding left out
    prefill_rows: int = 0  # prompts: each runs the head once, on its last position
    decode_s: float = 0.0
    decode_steps: int = 0
    decode_rows: int = 0  # tokens fed back, one per active sequence and step

    def wrap(self, model) -> None:
        forward = model.forward

        def timed_forward(*args, input_ids, attention_mask=None, **kwargs):
            seconds, out = timed(lambda: forward(*args, input_ids=input_ids, attention_mask=attention_mask, **kwargs))
            if input_ids.shape[1] > 1:
                self.prefill_s, self.prefill_calls = self.prefill_s + seconds, self.prefill_calls + 1
                self.prefill_tokens += int(attention_mask.sum())
                self.prefill_rows += input_ids.shape[0]
            else:
                self.decode_s, self.decode_steps = self.decode_s + seconds, self.decode_steps + 1
                self.decode_rows += input_ids.shape[0]
            return out

        model.forward = timed_forward  # nn.Module.__call__ calls the instance's forward


class GenerateClock:
    """Seconds inside the backend's generate (and, apart, in opening it, and in the model's forward calls) while a
    stage runs, and the opened model's count. It wraps `open_backend` where the sharded stages call it
    (selftrain_core/stages/shards.py); the hf backend only (its model is in this process)."""

    def __init__(self):
        from selftrain_core.stages import shards

        self.generate_s, self.open_s, self.count, self.forwards = 0.0, 0.0, None, Forwards()
        self._module, self._open = shards, shards.open_backend

    def __enter__(self):
        def open_backend(*args, **kwargs):
            seconds, backend = timed(lambda: self._open(*args, **kwargs))
            self.open_s += seconds
            self.count = count_model(backend.model)  # the very model the stage generates with
            self.forwards.wrap(backend.model)
            generate = backend.generate

            def timed_generate(requests):
                seconds, out = timed(lambda: generate(requests))
                self.generate_s += seconds
                return out

            backend.generate = timed_generate
            return backend

        self._module.open_backend = open_backend
        return self

    def __exit__(self, *exc):
        self._module.open_backend = self._open


@dataclass(frozen=True)
class StageTimes:
    wall_s: float  # best of the runs: the stage's run() call, model load included
    generate_s: float  # best of the runs: inside the backend's generate
    open_s: float  # the last run's model load
    forwards: Forwards  # the run with the least time inside generate
    usage: dict  # the manifest's usage entry (tokens are the same every run: seeded)
    count: ModelCount

    def flops(self) -> float:
        """The model's forward work as it ran: 2 (W - H) per real prompt token prefilled (a prompt that several
        requests read is prefilled once; padding left out), 2 H per prompt (its last position), 2 W per decoded
        row."""
        f, c = self.forwards, self.count
        return 2 * (c.linear - c.head) * f.prefill_tokens + 2 * c.head * f.prefill_rows + 2 * c.linear * f.decode_rows


def time_stage(module, cfg, plan, store, repeats: int) -> tuple[StageTimes, object]:
    """Run a generating stage `repeats` times, each on a deleted artifact (never a cache hit): its best times, its
    usage, and the artifact's ref."""
    from selftrain_core.stages.base import RunInfo

    walls, clocks = [], []
    for _ in range(repeats):
        store.delete(plan.stage, plan.key)
        with GenerateClock() as clock:
            wall, ref = timed(lambda: module.run(cfg, plan, store, RunInfo(), lambda _: None))
        walls.append(wall)
        clocks.append(clock)
    usage = store.manifest(plan.stage, plan.key)["usage"]
    best = min(clocks, key=lambda c: c.generate_s)
    return StageTimes(min(walls), best.generate_s, clock.open_s, best.forwards, usage, clock.count), ref


def generated_in_rows(rows: list[dict]) -> int:
    """Generated tokens counted from the answers' token logprobs (one per token), to check the usage entry."""
    return sum(
        len(row["reference_logprobs"]) + sum(len(s) for role in ("with_doc", "no_doc") for s in row[f"{role}_logprobs"])
        for row in rows
    )


def stage_row(name: str, dtype: str, t: StageTimes, peak: float) -> str:
    flops, u = t.flops(), t.usage
    wall, inside = flops / t.wall_s / 1e9, flops / t.generate_s / 1e9
    return (
        f"| {name} | {dtype} | {u['requests']} | {u['prompt_tokens']} | {u['completion_tokens']} | {flops / 1e9:.1f} "
        f"| {t.wall_s:.2f} | {t.generate_s:.2f} | {u['completion_tokens'] / t.generate_s:.1f} | {wall:.2f} "
        f"| {inside:.2f} | {wall / peak:.1%} | {inside / peak:.1%} |"
    )


STAGE_HEADER = [
    "| stage | dtype | requests | prompt tokens | generated tokens | model GFLOP | wall s | generate s | "
    "generated tok/s | GFLOP/s (wall) | GFLOP/s (generate) | of peak (wall) | of peak (generate) |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
]


FORWARD_HEADER = [
    "| stage | dtype | prefill s | prefill GFLOP/s | of peak | decode s | decode steps | rows a step | "
    "decode GFLOP/s | of peak | generate s outside forward |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
]


def forward_row(name: str, dtype: str, t: StageTimes, peak: float) -> str:
    """Where generate's time goes: prefill and decode forwards at their model FLOPs, and the rest (sampling, the
    decode loop's bookkeeping, tokenizing)."""
    f, c = t.forwards, t.count
    prefill = (2 * (c.linear - c.head) * f.prefill_tokens + 2 * c.head * f.prefill_rows) / f.prefill_s / 1e9
    decode = 2 * c.linear * f.decode_rows / max(f.decode_s, 1e-9) / 1e9
    rest = t.generate_s - f.prefill_s - f.decode_s
    return (
        f"| {name} | {dtype} | {f.prefill_s:.2f} | {prefill:.2f} | {prefill / peak:.1%} | {f.decode_s:.2f} "
        f"| {f.decode_steps} | {f.decode_rows / max(f.decode_steps, 1):.1f} | {decode:.2f} | {decode / peak:.1%} "
        f"| {rest:.2f} |"
    )


def attention_note(name: str, t: StageTimes) -> str:
    """How large attention's context term (left out of the model FLOPs) is at the stage's mean prompt length."""
    c, u = t.count, t.usage
    context = u["prompt_tokens"] / max(u["requests"], 1)
    share = 4 * c.layers * c.attention_width * context / (2 * c.linear)
    return (
        f"- {name}: attention's context term (4 x {c.layers} layers x {c.attention_width} x context per token, not "
        f"counted) at the mean prompt of {context:.0f} tokens is {share:.1%} of 2 x {c.linear / 1e6:.1f} M weights."
    )


def since(start: float) -> str:
    return f"{time.perf_counter() - start:.0f} s"
