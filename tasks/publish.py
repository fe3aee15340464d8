"""Publish a train artifact (its checkpoint and the curated data it was trained on) to the Hugging Face Hub.

The token is read inside the task, from the Prefect Secret block `publish.token_secret` or the environment variable
`publish.token_env`: it is never a task or flow parameter (Prefect stores those), a result, a log line or an
artifact. `publish_train_key` is the same without Prefect's task machinery, for the CLI.
"""

from __future__ import annotations

from collections.abc import Callable

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.blocks.system import Secret
from prefect.cache_policies import NO_CACHE

from selftrain_core.config import RunConfig
from selftrain_core.errors import ConfigError
from selftrain_core.export.hub import hub_token, publish_train
from selftrain_core.store import ArtifactRef, ArtifactStore


def read_token_block(name: str) -> str:
    """The value of the Prefect Secret block `name`; ConfigError naming the setting when there is none."""
    try:
        block = Secret.load(name)
    except ValueError:  # Prefect: "Unable to find block document named ..."
        raise ConfigError(
            f"there is no Prefect Secret block named {name!r} (publish.token_secret): create it in the UI "
            f"(Blocks > Secret) or with `Secret(value=...).save({name!r})`"
        ) from None
    return str(block.get())


def publish_train_key(
    cfg: RunConfig, train_key: str, evaluate_key: str | None = None, log: Callable[[str], None] = print
) -> list[dict[str, str]]:
    """Push what `cfg.publish` names for the train artifact `train_key` under `cfg.artifact_root`: the curated data
    to publish.dataset_repo_id, the checkpoint to publish.model_repo_id (with the card of evaluate artifact
    `evaluate_key` when given). Returns one dict per push: what, artifact, repo_id, repo_type, revision, commit,
    commit_url."""
    store = ArtifactStore(cfg.artifact_root)
    store.manifest("train", train_key)  # ArtifactNotFoundError naming the key and root, before reading a token
    evaluate = None
    if evaluate_key:
        store.manifest("evaluate", evaluate_key)
        evaluate = store.ref("evaluate", evaluate_key)
    token = hub_token(cfg.publish, read_token_block)
    results = publish_train(store, store.ref("train", train_key), cfg.publish, token, evaluate, log)
    return [r.as_dict() for r in results]


def summary(results: list[dict[str, str]]) -> str:
    """A markdown table of the pushes, each linking its commit."""
    rows = [
        f"| {r['what']} | `{r['artifact']}` | {r['repo_type']} `{r['repo_id']}` | {r['revision']} | "
        f"[{r['commit'][:10]}]({r['commit_url']}) |"
        for r in results
    ]
    header = ["| what | artifact | repo | branch | commit |", "|---" * 5 + "|"]
    return "\n".join(["# Published to the Hugging Face Hub", "", *header, *rows])


@task(name="publish", cache_policy=NO_CACHE, persist_result=False)
def publish_task(cfg: RunConfig, train: ArtifactRef, evaluate: ArtifactRef | None = None) -> list[dict[str, str]]:
    """Push train artifact `train` (and its curated data) as `cfg.publish` says; a markdown artifact links the
    commits. Not cached: a push is an effect, and an unchanged folder makes no new commit anyway."""
    logger = get_run_logger()
    results = publish_train_key(cfg, train.key, evaluate.key if evaluate else None, log=logger.info)
    create_markdown_artifact(markdown=summary(results), key="publish", description=f"train {train.key} on the hub")
    return results
