"""`selftrain publish`: push a trained checkpoint and the curated data it was trained on to the Hugging Face Hub."""

from __future__ import annotations

from typing import Annotated

import typer

from selftrain_cli.lookup import key_or_newest
from selftrain_cli.options import ConfigOption, Overrides, RootOption
from selftrain_core.config.loading import DEFAULT_PRESET, load_run_config


def publish(
    train: Annotated[str | None, typer.Option("--train", help="Train artifact key (default: the newest).")] = None,
    evaluate: Annotated[
        str | None,
        typer.Option("--evaluate", help="Evaluate artifact key whose model card (evaluation vs base) is pushed."),
    ] = None,
    config: ConfigOption = DEFAULT_PRESET,
    root: RootOption = None,
    overrides: Overrides = None,
) -> None:
    """Push to the Hub what the publish.* settings name (publish.model_repo_id, publish.dataset_repo_id), e.g.
    `selftrain publish publish.model_repo_id=me/smollm2-selftrained`. The token comes from publish.token_env
    (HF_TOKEN) or the Prefect Secret block publish.token_secret, and is never written anywhere."""
    from selftrain_cli.render import console
    from selftrain_core.errors import ConfigError
    from selftrain_core.store import ArtifactStore
    from tasks.publish import publish_train_key

    cfg = load_run_config(config, overrides)
    if root:
        cfg = cfg.model_copy(update={"artifact_root": root})
    if not (cfg.publish.model_repo_id or cfg.publish.dataset_repo_id):
        raise ConfigError("nothing to publish: set publish.model_repo_id and/or publish.dataset_repo_id")
    ref = key_or_newest(ArtifactStore(cfg.artifact_root), "train", train)
    for pushed in publish_train_key(cfg, ref.key, evaluate, log=console.print):
        console.print(f"{pushed['what']}: {pushed['repo_id']} @ {pushed['revision']} -> {pushed['commit_url']}")
