"""The folders pushed to the hub, laid out in a scratch folder: a train artifact's checkpoint (its LoRA adapter, its
merged weights, or its full weights) and a curate artifact exported as a dataset, each with its README.md card.

Artifacts are read, never written: checkpoint files are linked (local store) or downloaded (any other fsspec
store) into the scratch folder, and each README.md there is a new file, never one written through a link.
"""

from __future__ import annotations

import os
from pathlib import Path

from fsspec.implementations.local import LocalFileSystem

from selftrain_core.errors import StageInputError
from selftrain_core.export.hf_dataset import export_dataset
from selftrain_core.export.hub_cards import evaluation_card, model_card, with_loading_configs
from selftrain_core.models.resolve import resolve_model
from selftrain_core.stages.train.checkpoint import CHECKPOINT_DIRS, merge_adapter
from selftrain_core.stages.train.stage import trained_checkpoint
from selftrain_core.store import ArtifactRef, ArtifactStore
from selftrain_core.store.download import download_folder


def linked_copy(store: ArtifactStore, train: ArtifactRef, rel: str, target: Path) -> Path:
    """`target` with the files of the artifact folder `rel`: symlinks on local disk (a 140 GB merged model is not
    copied), downloaded from any other store (each file checked against its manifest checksum)."""
    if not isinstance(store.fs, LocalFileSystem):
        return download_folder(store, train, rel, target)
    source = f"{store.dir(train.stage, train.key)}/{rel}"
    for dirpath, _, filenames in os.walk(source):
        folder = target / os.path.relpath(dirpath, source)
        folder.mkdir(parents=True, exist_ok=True)
        for name in filenames:
            (folder / name).symlink_to(os.path.join(dirpath, name))
    return target


def write_readme(folder: Path, text: str) -> None:
    readme = folder / "README.md"
    readme.unlink(missing_ok=True)  # a link into the artifact: replaced, never written through
    readme.write_text(text, encoding="utf-8")


def base_model_path(store: ArtifactStore, train: ArtifactRef) -> str:
    """The local folder of the base model `train` was trained on; StageInputError when it has changed since."""
    base = next(m for m in store.manifest("train", train.key)["models"] if m["role"] == "base")
    fingerprint = base["fingerprint"]
    revision = fingerprint.rsplit("@", 1)[1] if fingerprint.startswith("hf:") else None
    model = resolve_model(base["name"], revision)
    if model.fingerprint != fingerprint:
        raise StageInputError(
            f"the base model {base['name']!r} is not the one train artifact {train.key} was trained on (now "
            f"{model.fingerprint}, then {fingerprint}), so its adapter cannot be merged into it: restore that base, "
            "or push the adapter (publish.model_what=adapter)"
        )
    return model.path


def checkpoint_folder(
    store: ArtifactStore,
    train: ArtifactRef,
    what: str,
    scratch: Path,
    evaluate: ArtifactRef | None = None,
    dataset_repo_id: str | None = None,
    log=print,
) -> tuple[Path, str]:
    """(folder to push, kind): kind is adapter, merged or full (a full fine-tune has no adapter: its weights are
    pushed whatever `what` says). `what`=merged uses the artifact's merged/ when training saved one, else merges the
    adapter into the base weights here, in the dtype it was trained in."""
    checkpoint = trained_checkpoint(store, train)
    if checkpoint["kind"] == "full" or what == "adapter" or checkpoint.get("merged"):
        kind = "full" if checkpoint["kind"] == "full" else what
        rel = CHECKPOINT_DIRS["merged"] if kind == "merged" else checkpoint["path"]
        folder = linked_copy(store, train, rel, scratch / kind)
        text, adapter_card = (folder / "README.md").read_text(encoding="utf-8"), False
    else:
        kind, folder = "merged", scratch / "merged"
        adapter = linked_copy(store, train, checkpoint["path"], scratch / "adapter")
        dtype = store.manifest("train", train.key).get("config", {}).get("dtype", "float32")
        log(f"publish: merging the adapter of train {train.key} into its base model ({dtype})")
        merge_adapter(base_model_path(store, train), str(adapter), str(folder), dtype)
        text, adapter_card = (adapter / "README.md").read_text(encoding="utf-8"), True
    if evaluate is not None:
        text, adapter_card = evaluation_card(store, train, evaluate), False
    write_readme(folder, model_card(text, kind, adapter_card, dataset_repo_id))
    return folder, kind


def dataset_folder(store: ArtifactStore, curate: ArtifactRef, scratch: Path) -> tuple[Path, dict[str, int]]:
    """(folder, rows per split): the curate artifact exported (`export_dataset`) with hub loading configs."""
    folder = scratch / "dataset"
    counts = export_dataset(store, curate, folder)
    write_readme(folder, with_loading_configs((folder / "README.md").read_text(encoding="utf-8")))
    return folder, counts
