"""Preflight: fail before any work, with a message naming the setting, when this machine cannot run the config.

A deployment on the GPU work pool sets `model.device: cuda`, so a worker without a GPU that picks it up stops here
instead of silently running a large model on the CPU (what `device: auto` would do). Nothing is written.
"""

from __future__ import annotations

from selftrain_core.config import RunConfig
from selftrain_core.errors import ConfigError
from selftrain_core.runs.resolution import check_names_resolve
from selftrain_core.runs.storage import check_artifact_root_reachable
from selftrain_core.stages.train.hardware import check_training_supported
from selftrain_core.store import ArtifactStore


def check_device(device: str) -> None:
    """`cuda` / `cuda:N` needs that GPU here; `auto` and `cpu` run anywhere."""
    if not device.startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(
            f"model.device={device} needs a CUDA GPU, but this machine has none (torch.cuda.is_available() is "
            "False): run it on a GPU worker (work pool selftrain-gpu), or set model.device=auto or cpu"
        )
    index = device.partition(":")[2]
    if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
        raise ConfigError(
            f"model.device={device}: this machine has {torch.cuda.device_count()} CUDA GPU(s) (cuda:0 ...); "
            "use cuda, cuda:<index> or auto"
        )


# what each tracker needs importable, and how to get it
TRACKERS = {
    "tensorboard": ("tensorboard", "pip install 'selftrain[tracking]'"),
    "trackio": ("trackio", "pip install 'selftrain[tracking]'"),
    "wandb": ("wandb", "pip install wandb"),
    "mlflow": ("mlflow", "pip install mlflow"),
}


def check_trackers(report_to: list[str]) -> None:
    import importlib.util

    for tracker in report_to:
        module, install = TRACKERS[tracker]
        if importlib.util.find_spec(module) is None:
            raise ConfigError(f"train.report_to={report_to} needs {tracker}, which is not installed: {install}")


def check_run_supported(cfg: RunConfig) -> None:
    """Everything the config needs from this machine: the artifact store, the device, the Ray cluster when the
    executor is Ray, the vLLM environment when a stage generates through vLLM, what training needs (QLoRA,
    launchers), then every model, prompt and chat template it names."""
    check_artifact_root_reachable(ArtifactStore(cfg.artifact_root))
    check_device(cfg.model.device)
    if cfg.executor.kind == "ray":
        from selftrain_core.cluster.connect import connect

        connect(cfg.executor)  # Ray installed, an address, a cluster answering there: before any work
    judge = cfg.evaluate.judge
    generating = (cfg.questions.backend, cfg.answers.backend, cfg.evaluate.backend)
    if "vllm" in (*generating, judge.backend if judge.enabled else None):
        from selftrain_core.backends.vllm_engine import vllm_python

        vllm_python()  # a ConfigError naming `make vllm-env` when there is none
    check_training_supported(cfg.train, cfg.model.device)
    check_trackers(cfg.train.report_to)
    check_names_resolve(cfg)
