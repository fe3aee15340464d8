"""The README.md a hub repo gets: the model card of a pushed checkpoint, and the dataset card's loading configs.

A model's card is its evaluate artifact's `cards/<arm>/README.md` when one is given (it carries the evaluation
against the base), else the card the train stage wrote beside the checkpoint. An adapter merged at push time has
the adapter's card, rewritten for merged weights. A card names the dataset repo when the dataset is pushed too.
"""

from __future__ import annotations

from huggingface_hub import DatasetCard, ModelCard

from selftrain_core.errors import ConfigError
from selftrain_core.export.hf_dataset import SPLITS
from selftrain_core.stages.train.model_card import USAGE, WHAT
from selftrain_core.store import ArtifactRef, ArtifactStore


def evaluation_card(store: ArtifactStore, train: ArtifactRef, evaluate: ArtifactRef) -> str:
    """The evaluate artifact's card for the arm that is `train`; ConfigError when it did not evaluate `train`."""
    manifest = store.manifest("evaluate", evaluate.key)
    trained = [p["key"] for p in manifest.get("parents", []) if p["stage"] == "train"]
    arms = dict(zip(trained, manifest.get("config", {}).get("arms", []), strict=False))
    if train.key not in arms:
        raise ConfigError(
            f"evaluate artifact {evaluate.key} did not evaluate train artifact {train.key} (it evaluated "
            f"{trained or 'none'}): give the evaluate key of this checkpoint, or none for the train artifact's card"
        )
    path = f"{store.dir('evaluate', evaluate.key)}/cards/{arms[train.key]}/README.md"
    return store.fs.cat_file(path).decode("utf-8")


def model_card(text: str, kind: str, adapter_card: bool, dataset_repo_id: str | None) -> str:
    """The card to push for a checkpoint of `kind` (adapter, merged, full). `adapter_card`: `text` was written for
    the adapter, so a merged push rewrites its metadata and usage; `dataset_repo_id` is linked from the card."""
    card = ModelCard(text)
    if kind == "merged":
        card.data.library_name = "transformers"
        card.data.tags = [t for t in card.data.tags or [] if t != "lora"] or None
        if adapter_card:
            card.text = card.text.replace(f"{WHAT['adapter']} for", f"{WHAT['merged']} for").replace(
                USAGE["adapter"], USAGE["merged"]
            )
    if dataset_repo_id:
        card.data.datasets = [dataset_repo_id]
    return str(card)


def with_loading_configs(readme: str) -> str:
    """The dataset card with one hub config per split folder (`load_dataset(repo, "dpo")`): the folder holds
    `save_to_disk` output, whose Arrow files the hub would otherwise read as one mixed split."""
    card = DatasetCard(readme)
    card.data.configs = [
        {"config_name": split, "data_files": [{"split": "train", "path": f"{split}/*.arrow"}]} for split in SPLITS
    ]
    return str(card)
