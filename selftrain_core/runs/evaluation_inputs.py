"""What evaluating an existing checkpoint needs: its train artifact and, from its own lineage, the held-out
answers, their scores and the chunks (train -> curate -> score, answers -> chunk). Taking them from the lineage,
not from the config, keeps the held-out set the one whose documents the checkpoint never saw."""

from __future__ import annotations

import re
from dataclasses import dataclass

from selftrain_core.config import RunConfig
from selftrain_core.errors import ArtifactNotFoundError, ConfigError
from selftrain_core.models.resolve import resolve_model
from selftrain_core.runs.lineage_refs import parent_ref
from selftrain_core.store import ArtifactRef, ArtifactStore


@dataclass(frozen=True)
class EvaluationInputs:
    train: ArtifactRef
    answers: ArtifactRef
    score: ArtifactRef
    chunk: ArtifactRef


def evaluation_inputs(cfg: RunConfig, train_key: str) -> EvaluationInputs:
    """Fails before any work when the train artifact or a parent is missing, or `model.name` is not its base."""
    store = ArtifactStore(cfg.artifact_root)
    if not re.fullmatch(r"[0-9a-f]{8,64}", train_key):
        raise ConfigError(f"train_key {train_key!r} is not an artifact key (hex digits, as `selftrain artifacts list`)")
    if not store.is_complete("train", train_key):
        raise ArtifactNotFoundError(
            f"train_key {train_key}: no complete train artifact with this key under {store.url}; "
            f"list them with `selftrain artifacts list --stage train --root {store.url}`"
        )
    manifest = store.manifest("train", train_key)
    base = next((m for m in manifest.get("models", []) if m["role"] == "base"), None)
    model = resolve_model(cfg.model.name, cfg.model.revision)
    if base is not None and base["fingerprint"] != model.fingerprint:
        raise ConfigError(
            f"model.name={cfg.model.name} is not the base model of train/{train_key} ({base.get('name')}): "
            "set model.name (and model.revision) to the model it was trained from"
        )
    curate = store.manifest("curate", parent_ref(store, manifest, "curate").key)
    answers = parent_ref(store, curate, "answers")
    return EvaluationInputs(
        train=store.ref("train", train_key),
        answers=answers,
        score=parent_ref(store, curate, "score"),
        chunk=parent_ref(store, store.manifest("answers", answers.key), "chunk"),
    )
