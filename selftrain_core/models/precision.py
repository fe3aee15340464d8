"""The dtype a model runs in: model.dtype as given, or for `auto` the one measured to pay on this machine.

`auto` samples in bfloat16 with the hf backend on a CPU that has native bf16 (avx512_bf16 or AMX, asked of torch at
run time): there the answers stage's sampling is faster and the pipeline's decisions stay those of float32
(bench/bf16.py, bench/results/bf16.md). Everywhere else `auto` is float32: on a CPU without those instructions bf16
matmuls are emulated, several times slower than float32 (bench/results/roofline.md); on a GPU and with vLLM it is not
measured here (set model.dtype). Training under `auto` keeps float32 weights: only sampling was measured.

A step that runs a trained adapter or compares trained models (`trained`: the evaluate stage, its judge, and
sampling or scoring through model.adapter in rounds 2+) stays float32 under `auto`: a LoRA update merged into
bfloat16 weights mostly rounds away (on the offline default's adapter: 82% of the updated weights came out unchanged,
0.46 of the update kept), and through the bfloat16 model the adapter's effect on the log-probabilities is 0.79 of
float32's (cosine 0.92), with bfloat16's own rounding of the base at 0.41 of the effect's size; an unmerged adapter
kept no more of it (bench/results/bf16_merge.md).

The resolved dtype, not `auto`, is what enters a stage's key and manifest: the same config run on an AMX machine and
on an AVX2 one gives different keys, as it gives different samples.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from selftrain_core.config.models import ModelConfig

AUTO = "auto"


def native_bf16_cpu() -> bool:
    """Whether this CPU computes bf16 matmuls natively (avx512_bf16 or AMX tiles), as torch's own kernels see it."""
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


def inference_dtype(model: ModelConfig, backend: str = "hf", *, trained: bool = False) -> str:
    """The dtype `backend` loads the policy in for generating and scoring: model.dtype, or what `auto` resolves to
    (`trained`: the step runs a trained adapter or compares trained models)."""
    if model.dtype != AUTO:
        return model.dtype
    from selftrain_core.models.loading import pick_device

    if not trained and backend == "hf" and pick_device(model.device) == "cpu" and native_bf16_cpu():
        return "bfloat16"
    return "float32"


def policy_dtype(model: ModelConfig, backend: str = "hf") -> str:
    """The dtype the policy samples or scores in: through model.adapter (rounds 2+), a trained adapter's."""
    return inference_dtype(model, backend, trained=model.adapter is not None)


def training_dtype(model: ModelConfig) -> str:
    """The dtype the policy's weights are trained (and an adapter merged) in: model.dtype, float32 for `auto`."""
    return "float32" if model.dtype == AUTO else model.dtype
