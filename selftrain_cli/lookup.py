"""Which artifact a command means: a given key, the newest of a stage, or the evaluation a run made."""

from __future__ import annotations

from selftrain_core.config.loading import load_run_config
from selftrain_core.errors import ArtifactNotFoundError
from selftrain_core.runs.storage import check_artifact_root_reachable
from selftrain_core.store import ArtifactRef, ArtifactStore


def open_store(config: str, root: str | None) -> ArtifactStore:
    """The store at `root`, else at the config's artifact_root (the config is only read then); an object store that
    cannot be reached (credentials, endpoint, bucket) stops here with a message naming what to set."""
    store = ArtifactStore(root or load_run_config(config).artifact_root)
    check_artifact_root_reachable(store)
    return store


def key_or_newest(store: ArtifactStore, stage: str, key: str | None) -> ArtifactRef:
    """The complete artifact `stage/key`; without a key, the stage's newest."""
    if key is None:
        found = store.list(stage)
        if not found:
            raise ArtifactNotFoundError(f"no {stage} artifact under {store.url}; run `selftrain {stage}` first")
        key = found[0]["key"]
    if not store.is_complete(stage, key):
        raise ArtifactNotFoundError(f"no complete {stage} artifact {key} under {store.url}")
    return store.ref(stage, key)


def evaluation(store: ArtifactStore, key_or_run: str | None) -> ArtifactRef:
    """An evaluate artifact by its key, or the newest one a run made (its run id or flow run id), or the newest."""
    if key_or_run is None or store.is_complete("evaluate", key_or_run):
        return key_or_newest(store, "evaluate", key_or_run)
    for manifest in store.list("evaluate"):  # newest first: a run's last round
        run = manifest.get("run") or {}
        if key_or_run in (run.get("run_id"), run.get("flow_run_id")):
            return store.ref("evaluate", manifest["key"])
    raise ArtifactNotFoundError(
        f"no evaluate artifact with key or run id {key_or_run!r} under {store.url}; "
        "`selftrain artifacts list --stage evaluate` lists them"
    )
