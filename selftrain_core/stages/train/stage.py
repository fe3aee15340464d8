"""Stage train: curated data + base model -> a checkpoint with a model card.

`train.method` picks DPO (default, straight from the instruct model), SFT on the reference answers of unknown
questions, or SFT then DPO; `train.finetune` picks LoRA, QLoRA or full weights (see selftrain_core/stages/train/).
Files: `adapter/` (LoRA, QLoRA) or `model/` (full), each with the tokenizer and a README.md model card;
`merged/` when asked; a `log` table of every logged trainer step (phase sft or dpo). An empty dataset stops the
stage with a message naming the curate artifact and its drops; nothing is written.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from selftrain_core.config import RunConfig
from selftrain_core.config.base import result_settings, runtime_settings
from selftrain_core.errors import StageInputError
from selftrain_core.models.precision import training_dtype
from selftrain_core.models.resolve import folder_fingerprint, resolve_model
from selftrain_core.stages.base import RunInfo, StagePlan, execute, make_plan
from selftrain_core.stages.progress import Report, progress_bar
from selftrain_core.stages.train.checkpoint import CHECKPOINT_DIRS, checkpoint_kind
from selftrain_core.stages.train.data import preference_rows, sft_rows
from selftrain_core.stages.train.hardware import check_training_supported, training_hardware
from selftrain_core.stages.train.launch import train
from selftrain_core.stages.train.model_card import write_model_card
from selftrain_core.store import ArtifactRef, ArtifactStore

STAGE, VERSION = "train", 3


def plan(cfg: RunConfig, curated: ArtifactRef) -> StagePlan:
    check_training_supported(cfg.train, cfg.model.device)
    model = resolve_model(cfg.model.name, cfg.model.revision)
    models = [model.manifest_entry("base")]
    if cfg.train.init_adapter:
        path = Path(cfg.train.init_adapter)
        models.append({"role": "init_adapter", "name": str(path), "fingerprint": folder_fingerprint(path)})
    # init_adapter: its files' fingerprint is in the key, not its path
    train_settings = result_settings(cfg.train, without=("runtime", "fingerprinted"))
    settings = {"train": train_settings, "seed": cfg.seed, "dtype": training_dtype(cfg.model)}
    return make_plan(
        STAGE,
        VERSION,
        settings,
        [curated],
        models,
        runtime=runtime_settings(cfg.train) | {"device": cfg.model.device},
    )


def log_table(history: list[dict[str, Any]]) -> pa.Table:
    rows = [
        {
            "phase": entry.get("phase", ""),
            **{k: float(v) for k, v in entry.items() if isinstance(v, int | float) and math.isfinite(v)},
        }
        for entry in history
        if "loss" in entry
    ]
    return pa.Table.from_pylist(rows)


TIMING = ("train_runtime", "train_samples_per_second", "train_steps_per_second")


def final_metrics(history: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, float]]:
    """(metrics, timing): the last logged step's metrics (loss, rewards...) with the run's train_loss, and the
    run's timings apart, so the checkpoint files (model card) stay byte-identical between runs."""
    steps = [h for h in history if "loss" in h]
    picked = {**(steps[-1] if steps else {}), **(history[-1] if history else {})}
    numbers = {k: v for k, v in picked.items() if isinstance(v, int | float) and math.isfinite(v)}
    return {k: v for k, v in numbers.items() if k not in TIMING}, {k: v for k, v in numbers.items() if k in TIMING}


def training_data(cfg: RunConfig, store: ArtifactStore, curated: ArtifactRef):
    """(preference rows, sft rows, drops); an empty set the method needs is a StageInputError."""
    preference, pair_drops = preference_rows(store.read_rows(curated))
    sft, sft_drops = sft_rows(store.read_rows(curated, "sft"))
    drops = {"pairs": dict(pair_drops), "sft": dict(sft_drops)}
    method = cfg.train.method
    needed = {"DPO pairs": (preference, "dpo" in method), "SFT rows": (sft, "sft" in method)}
    empty = [name for name, (rows, used) in needed.items() if used and not rows]
    if empty:
        upstream = store.manifest(curated.stage, curated.key).get("drops", {})
        raise StageInputError(
            f"no {' or '.join(empty)} to train on (train.method={method}): curate {curated.key} kept none "
            f"(curate drops: {upstream}; dropped here: {drops}). Lower curate.known_threshold or "
            "curate.answerable_threshold, or add documents."
        )
    return preference, sft, drops


def missing_data(cfg: RunConfig, store: ArtifactStore, curated: ArtifactRef) -> str | None:
    """Why training cannot start on this curated data (its message), or None when it can."""
    try:
        training_data(cfg, store, curated)
    except StageInputError as exc:
        return str(exc)
    return None


def run(
    cfg: RunConfig,
    plan: StagePlan,
    store: ArtifactStore,
    run_info: RunInfo,
    log: Callable[[str], None] = print,
    progress: Report | None = None,
) -> ArtifactRef:
    def compute(writer):
        from selftrain_core.stages.train.progress import TrainingProgress  # transformers: imported only to train

        curated = plan.parent("curate")
        preference, sft, drops = training_data(cfg, store, curated)
        hw = training_hardware(cfg.train, cfg.model.device)
        kind = checkpoint_kind(cfg.train.finetune)
        named = cfg.model_copy(
            update={"train": cfg.train.model_copy(update={"run_name": cfg.train.run_name or f"train-{plan.key}"})}
        )
        phases = 2 if cfg.train.method == "sft-then-dpo" else 1
        with (
            tempfile.TemporaryDirectory(prefix="selftrain-train-") as tmp,
            progress_bar(100, "train", "%", progress) as advance,
        ):
            out = train(named, preference, sft, Path(tmp), [TrainingProgress(phases, advance, log)], log=log)
            history = out.history
            final, timing = final_metrics(history)
            counts = {"pairs": len(preference), "sft_rows": len(sft)}
            folders = [(CHECKPOINT_DIRS[kind], out.checkpoint, kind)]
            if cfg.train.merge:
                folders.append((CHECKPOINT_DIRS["merged"], out.merged, "merged"))
            for rel, source, what in folders:
                with writer.local_dir(rel) as target:
                    _copy_tree(source, Path(target))
                    write_model_card(target, cfg, plan, what, counts, final)
        writer.write_table("log", log_table(history))
        return {
            **counts,
            "drops": {f"{k}:{reason}": n for k, d in drops.items() for reason, n in d.items()},
            "final_metrics": final,
            "timing": timing,
            "checkpoint": {"kind": kind, "path": CHECKPOINT_DIRS[kind], "merged": cfg.train.merge},
            "hardware": {"device": hw.device, "bf16": hw.bf16, "gradient_checkpointing": hw.gradient_checkpointing},
        }

    return execute(plan, store, run_info, compute, log)


def _copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, dirs_exist_ok=True)


def trained_checkpoint(store: ArtifactStore, ref: ArtifactRef) -> dict[str, Any]:
    """{'kind': 'adapter' | 'full', 'path': folder inside the artifact} (v1 artifacts: an adapter)."""
    return store.manifest(ref.stage, ref.key).get("checkpoint", {"kind": "adapter", "path": "adapter"})
