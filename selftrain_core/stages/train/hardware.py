"""Device-dependent training settings, chosen once from the config and the machine.

TRL's configs default to bf16 and gradient checkpointing; on a CPU both only cost time (a DPO step about 13x
slower on these machines), so `auto` turns them off there and on for CUDA GPUs.
"""

from __future__ import annotations

from dataclasses import dataclass

from selftrain_core.errors import ConfigError
from selftrain_core.models.loading import pick_device
from selftrain_core.stages.train.config import TrainConfig


@dataclass(frozen=True)
class TrainingHardware:
    device: str
    bf16: bool
    fp16: bool
    gradient_checkpointing: bool
    threads: int | None

    @property
    def on_gpu(self) -> bool:
        return self.device.startswith("cuda")


def training_hardware(train: TrainConfig, device: str = "auto") -> TrainingHardware:
    import torch

    device = pick_device(device)
    on_gpu = device.startswith("cuda")
    precision = train.precision
    if precision == "auto":
        precision = "bf16" if on_gpu and torch.cuda.is_bf16_supported() else "fp32"
    if not on_gpu:
        precision = "fp32"  # mixed precision on CPU is slower and no smaller for the weights we train
    checkpointing = {"auto": on_gpu, "on": True, "off": False}[train.gradient_checkpointing]
    return TrainingHardware(device, precision == "bf16", precision == "fp16", checkpointing, train.threads)


def check_training_supported(train: TrainConfig, device: str = "auto") -> None:
    """Fail before any work when the machine cannot do what the config asks."""
    import importlib.util

    device = pick_device(device)
    if train.finetune == "qlora":
        if not device.startswith("cuda"):
            raise ConfigError(
                f"train.finetune=qlora needs a CUDA GPU (the device here is {device!r}); use finetune=lora on CPU"
            )
        if importlib.util.find_spec("bitsandbytes") is None:
            raise ConfigError("train.finetune=qlora needs bitsandbytes: pip install 'selftrain[qlora]'")
    if train.num_processes > 1 or train.launcher == "accelerate":
        if importlib.util.find_spec("accelerate") is None:
            raise ConfigError("train.num_processes > 1 needs accelerate installed")
        if train.distributed.startswith("deepspeed") and importlib.util.find_spec("deepspeed") is None:
            raise ConfigError(
                f"train.distributed={train.distributed} needs deepspeed installed: pip install 'selftrain[deepspeed]'"
            )
