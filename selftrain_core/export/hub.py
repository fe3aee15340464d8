"""Publish to the Hugging Face Hub (opt-in, `RunConfig.publish`): a train artifact's checkpoint (LoRA adapter,
merged or full weights) to a model repo and the curated data it was trained on to a dataset repo, each with its
card. Each push is one `create_repo(exist_ok=True)` and one `upload_folder` whose commit message names the artifact.

The token is an argument: `hub_token` reads it from the environment variable `publish.token_env`, or from the
Prefect Secret block `publish.token_secret` through the reader the Prefect layer passes (this library never imports
Prefect). It goes to `HfApi` only: never into a config, manifest, artifact, log line or error message.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from selftrain_core.config.publish import PublishConfig
from selftrain_core.errors import ConfigError, CorruptArtifactError, SelftrainError
from selftrain_core.export.hub_folders import checkpoint_folder, dataset_folder
from selftrain_core.store import ArtifactRef, ArtifactStore


class PublishError(SelftrainError):
    """The hub refused a push (bad token, no write access) or could not be reached; the message says which."""


@dataclass(frozen=True)
class PushResult:
    what: str  # adapter, merged, full or dataset
    artifact: str  # stage/key that was pushed
    repo_id: str
    repo_type: str  # model or dataset
    revision: str  # the branch committed to
    commit: str  # the commit's id
    commit_url: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def token_source(publish: PublishConfig) -> str:
    """Where the token is read from, in words a message may carry."""
    if publish.token_secret:
        return f"the Prefect Secret block {publish.token_secret!r} (publish.token_secret)"
    return f"the environment variable {publish.token_env} (publish.token_env)"


def hub_token(publish: PublishConfig, read_secret: Callable[[str], str] | None = None) -> str:
    """The token to push with; ConfigError naming its source when there is none."""
    if publish.token_secret:
        if read_secret is None:
            raise ConfigError(
                f"publish.token_secret={publish.token_secret!r} names a Prefect Secret block, which only the "
                "Prefect layer reads (tasks/publish.py); here none is: set publish.token_env instead"
            )
        token = read_secret(publish.token_secret)
    else:
        token = os.environ.get(publish.token_env)
    if not token or not token.strip():
        raise ConfigError(
            f"no Hugging Face token: {token_source(publish)} is empty or unset. Give it a token with write access "
            "(https://huggingface.co/settings/tokens), or name another source in publish.token_env / "
            "publish.token_secret"
        )
    return token.strip()


@contextmanager
def hub_errors(publish: PublishConfig, repo_id: str, repo_type: str, token: str) -> Iterator[None]:
    """The hub's errors as messages naming what is wrong, with the token scrubbed from anything quoted."""
    import httpx2  # huggingface_hub's HTTP client
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled

    where = publish.endpoint or constants.ENDPOINT
    repo = f"{repo_type} repo {repo_id!r} at {where}"

    def scrub(exc: BaseException) -> str:
        return str(exc).replace(token, "<token>")

    try:
        yield
    except OfflineModeIsEnabled:
        raise ConfigError("HF_HUB_OFFLINE is set, and publishing needs the hub: unset it to push") from None
    except HFValidationError as exc:
        raise ConfigError(f"{repo_id!r} is not a valid hub repo id: {scrub(exc)}") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status == 401:
            message = (
                f"the hub at {where} refused the token from {token_source(publish)} (401 Unauthorized): it is "
                "invalid or expired; create a token with write access and store it there"
            )
        elif status == 403:
            message = (
                f"the token from {token_source(publish)} may not write to {repo} (403 Forbidden): use a token with "
                "write access to that namespace, or push to your own namespace"
            )
        else:
            message = f"pushing to {repo} failed ({status}): {scrub(exc)}"
        raise PublishError(message) from None
    except httpx2.TransportError as exc:
        raise PublishError(f"cannot reach the hub at {where} ({type(exc).__name__}: {scrub(exc)})") from None


def push_folder(
    folder: Path, repo_id: str, repo_type: str, publish: PublishConfig, token: str, message: str
) -> tuple[str, str]:
    """(commit id, commit URL) of `folder` uploaded to the repo, which is created when missing (publish.private),
    on the branch publish.revision (created from main when missing)."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=publish.endpoint, token=token)
    with hub_errors(publish, repo_id, repo_type, token):
        api.create_repo(repo_id, repo_type=repo_type, private=publish.private, exist_ok=True)
        if publish.revision:
            api.create_branch(repo_id, branch=publish.revision, repo_type=repo_type, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            repo_type=repo_type,
            revision=publish.revision,
            commit_message=message,
        )
    return info.oid, info.commit_url


def _verified(store: ArtifactStore, ref: ArtifactRef) -> None:
    bad = store.verify(ref.stage, ref.key)
    if bad:
        raise CorruptArtifactError(f"{ref.stage} artifact {ref.key} has corrupt or missing files {bad}: not pushed")


def push_model(
    store: ArtifactStore,
    train: ArtifactRef,
    publish: PublishConfig,
    token: str,
    evaluate: ArtifactRef | None = None,
    log: Callable[[str], None] = print,
) -> PushResult:
    """Push the checkpoint of `train` (publish.model_what) to publish.model_repo_id with its model card: the card
    of `evaluate` (its evaluation against the base) when given, else the train artifact's."""
    if not publish.model_repo_id:
        raise ConfigError("publish.model_repo_id is not set: name the hub model repo to push to (namespace/name)")
    _verified(store, train)
    with tempfile.TemporaryDirectory(prefix="selftrain-publish-") as scratch:
        folder, kind = checkpoint_folder(
            store, train, publish.model_what, Path(scratch), evaluate, publish.dataset_repo_id, log
        )
        message = f"selftrain {kind} from train artifact {train.key}"
        log(f"publish: pushing the {kind} of train {train.key} to model repo {publish.model_repo_id}")
        commit, url = push_folder(folder, publish.model_repo_id, "model", publish, token, message)
    log(f"publish: {url}")
    return PushResult(kind, f"train/{train.key}", publish.model_repo_id, "model", _branch(publish), commit, url)


def push_dataset(
    store: ArtifactStore,
    curate: ArtifactRef,
    publish: PublishConfig,
    token: str,
    log: Callable[[str], None] = print,
) -> PushResult:
    """Push the curate artifact `curate`, exported with its dataset card, to publish.dataset_repo_id."""
    if not publish.dataset_repo_id:
        raise ConfigError("publish.dataset_repo_id is not set: name the hub dataset repo to push to (namespace/name)")
    _verified(store, curate)
    with tempfile.TemporaryDirectory(prefix="selftrain-publish-") as scratch:
        folder, counts = dataset_folder(store, curate, Path(scratch))
        message = f"selftrain curated data from curate artifact {curate.key}"
        log(f"publish: pushing curate {curate.key} ({counts}) to dataset repo {publish.dataset_repo_id}")
        commit, url = push_folder(folder, publish.dataset_repo_id, "dataset", publish, token, message)
    log(f"publish: {url}")
    repo_id = publish.dataset_repo_id
    return PushResult("dataset", f"curate/{curate.key}", repo_id, "dataset", _branch(publish), commit, url)


def publish_train(
    store: ArtifactStore,
    train: ArtifactRef,
    publish: PublishConfig,
    token: str,
    evaluate: ArtifactRef | None = None,
    log: Callable[[str], None] = print,
) -> list[PushResult]:
    """What `publish` asks for: the curated data `train` was trained on (first, so the model card can name its
    repo) and the checkpoint. ConfigError when it names no repo."""
    if not (publish.model_repo_id or publish.dataset_repo_id):
        raise ConfigError("nothing to publish: set publish.model_repo_id and/or publish.dataset_repo_id")
    if train.stage != "train":
        raise ConfigError(f"publishing needs a train artifact, got {train.stage}/{train.key}")
    results = []
    if publish.dataset_repo_id:
        curate = next(ArtifactRef(**p) for p in store.manifest("train", train.key)["parents"] if p["stage"] == "curate")
        results.append(push_dataset(store, curate, publish, token, log))
    if publish.model_repo_id:
        results.append(push_model(store, train, publish, token, evaluate, log))
    return results


def _branch(publish: PublishConfig) -> str:
    return publish.revision or "main"
