"""The retrain-weekly and evaluate flows under prefect_test_harness, on tiny local models and a local JSONL source:
retrain trains on a fresh store, trains nothing when no document was added, retrains after one was; evaluate
re-evaluates a checkpoint by key and refuses a key that does not exist before any work; retrain mode=continue keeps
training the last run's adapter, and refuses when a document it trained on is held out now."""

import json
import shutil
from pathlib import Path

import pytest

from flows.evaluate import evaluate_checkpoint
from flows.retrain import retrain
from selftrain_core.config.loading import build_run_config
from selftrain_core.errors import ArtifactNotFoundError, ConfigError
from selftrain_core.models.resolve import folder_fingerprint
from selftrain_core.runs.new_documents import last_trained_ingest
from selftrain_core.runs.rounds import local_adapter
from selftrain_core.stages.ingest import stage as ingest
from selftrain_core.stages.ingest.config import LocalFilesSource
from selftrain_core.stages.ingest.sources.local_files import read
from selftrain_core.store import ArtifactStore
from tests.conftest import tiny_config_data

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def harness(prefect_server):
    """This process's Prefect test server (tests/conftest.py), for every test of the module."""


@pytest.fixture(scope="module")
def setup(tiny_lm, tiny_embedder, corpus_file, tmp_path_factory):
    folder = tmp_path_factory.mktemp("retrain")
    corpus = folder / "docs.jsonl"
    shutil.copy(corpus_file, corpus)
    cfg = build_run_config(tiny_config_data(tiny_lm, tiny_embedder, corpus, folder / "artifacts"))
    return cfg, corpus


def keys(store: ArtifactStore, stage: str) -> set[str]:
    return {m["key"] for m in store.list(stage)}


def test_retrain_runs_once_then_only_when_documents_were_added_or_the_config_changed(harness, setup):
    cfg, corpus = setup
    store = ArtifactStore(cfg.artifact_root)
    first = retrain(config=cfg)
    assert "evaluate" in first, "a store with no successful run on this source trains"
    assert last_trained_ingest(store, cfg) == first["ingest"]

    unchanged = retrain(config=cfg)
    assert unchanged == {"ingest": first["ingest"]}, "no new document: nothing trained"
    assert keys(store, "train") == {first["train"].key}
    runtime_only = build_run_config({**cfg.model_dump(mode="json"), "name": "renamed", "answers": {
        **cfg.answers.model_dump(mode="json"), "batch_size": 1}})  # fmt: skip
    assert retrain(config=runtime_only) == {"ingest": first["ingest"]}, "a name or batch size changes no result"

    lines = corpus.read_text(encoding="utf-8").splitlines()
    removed = lines[:-1]
    corpus.write_text("\n".join(removed) + "\n", encoding="utf-8")
    assert "evaluate" not in retrain(config=cfg), "a removed document teaches nothing new"

    with corpus.open("a", encoding="utf-8") as handle:
        text = "The Danube is the second-longest river in Europe. It flows through ten countries."
        handle.write(json.dumps({"id": "danube", "title": "Danube", "text": text, "category": "Geography"}) + "\n")
    second = retrain(config=cfg)
    assert second["ingest"] != first["ingest"] and "evaluate" in second
    assert keys(store, "train") == {first["train"].key, second["train"].key}
    assert last_trained_ingest(store, cfg) == second["ingest"]

    changed = json.loads(removed[0])
    changed["text"] += " It was revised."
    corpus.write_text("\n".join([json.dumps(changed), *removed[1:]]) + "\n", encoding="utf-8")
    with corpus.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": "danube", "title": "Danube", "text": text, "category": "Geography"}) + "\n")
    third = retrain(config=cfg)
    assert "evaluate" in third and third["ingest"] not in {first["ingest"], second["ingest"]}, "a changed text"

    stricter = build_run_config({**cfg.model_dump(mode="json"), "train": {
        **cfg.train.model_dump(mode="json"), "beta": 0.2}})  # fmt: skip
    assert last_trained_ingest(store, stricter) is None, "another training setting has no last run yet"
    fourth = retrain(config=stricter)
    assert "evaluate" in fourth and fourth["ingest"] == third["ingest"], "same documents, a changed config: trains"
    assert retrain(config=stricter) == {"ingest": third["ingest"]}


def test_evaluate_a_checkpoint_by_key_and_refuse_a_missing_one_before_any_work(harness, setup, tmp_path_factory):
    cfg, _ = setup
    store = ArtifactStore(cfg.artifact_root)
    train_key = store.list("train")[0]["key"]
    ref = evaluate_checkpoint(train_key=train_key, config=cfg)
    manifest = store.manifest("evaluate", ref.key)
    assert manifest["parents"][0]["stage"] == "train" and manifest["parents"][0]["key"] == train_key
    assert store.verify("evaluate", ref.key) == []

    before = {stage: keys(store, stage) for stage in ("ingest", "train", "evaluate")}
    with pytest.raises(ArtifactNotFoundError, match="train_key 0123456789abcdef: no complete train artifact"):
        evaluate_checkpoint(train_key="0123456789abcdef", config=cfg)
    with pytest.raises(ConfigError, match="train_key 'latest' is not an artifact key"):
        evaluate_checkpoint(train_key="latest", config=cfg)
    other = tmp_path_factory.mktemp("other-base") / "lm"  # a chat model that is not the checkpoint's base
    shutil.copytree(cfg.model.name, other)
    weights = other / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + bytes([weights.read_bytes()[-1] ^ 1]))
    other_base = cfg.model_copy(update={"model": cfg.model.model_copy(update={"name": str(other)})})
    with pytest.raises(ConfigError, match="is not the base model of train/"):
        evaluate_checkpoint(train_key=train_key, config=other_base)
    assert {stage: keys(store, stage) for stage in before} == before, "nothing written"


def add_documents(corpus, rows) -> None:
    with corpus.open("a", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in rows)


def splits_of(corpus, seed: int, fraction: float) -> dict[str, str]:
    by_category: dict = {}
    for doc in read(LocalFilesSource(path=str(corpus))):
        by_category.setdefault(doc["category"], []).append(doc["doc_id"])
    return ingest.assign_splits(by_category, fraction, seed)


def test_retrain_continue_keeps_training_the_last_adapter_and_refuses_a_moved_split(
    harness, tiny_lm, tiny_embedder, corpus_file, tmp_path_factory
):
    folder = tmp_path_factory.mktemp("continue")
    corpus = folder / "docs.jsonl"
    shutil.copy(corpus_file, corpus)
    data = tiny_config_data(tiny_lm, tiny_embedder, corpus, folder / "artifacts")
    stable = build_run_config({**data, "ingest": {**data["ingest"], "split_rule": "stable", "test_fraction": 0.4}})
    store = ArtifactStore(stable.artifact_root)
    first = retrain(config=stable, mode="continue")  # no last run: trains from the base model
    assert "evaluate" in first and first_adapter_role(store, first) is None
    add_documents(corpus, [{"id": "danube", "title": "Danube", "text": "The Danube flows through ten countries.",
                            "category": "Geography"}])  # fmt: skip
    second = retrain(config=stable, mode="continue")
    init = first_adapter_role(store, second)
    assert init is not None and init["fingerprint"] == folder_fingerprint(Path(local_adapter(store, first["train"]))), (
        "the second run continues the first run's adapter"
    )
    answers = store.manifest("answers", second["answers"].key)
    assert any(m["role"] == "policy_adapter" for m in answers["models"]), "it samples through that adapter"
    questions = store.manifest("questions", second["questions"].key)["reuse"]
    assert questions["computed_rows"] < questions["reused_rows"], "the question writer did not change: reused"

    # the stratified rule (the default) moves a trained document to held out as the corpus grows: refused
    shutil.copy(corpus_file, corpus)
    stratified = build_run_config(data)
    assert "evaluate" in retrain(config=stratified)
    before = splits_of(corpus, stratified.seed, stratified.ingest.test_fraction)
    base = corpus.read_text(encoding="utf-8")
    for extra in range(100):
        corpus.write_text(base, encoding="utf-8")
        add_documents(corpus, [{"id": f"extra-{extra}-{i}", "title": f"Place {i}", "text": f"Place {i} is a city.",
                                "category": "Geography"} for i in range(2)])  # fmt: skip
        after = splits_of(corpus, stratified.seed, stratified.ingest.test_fraction)
        if any(before[d] == "train" and after[d] == "test" for d in before):
            break
    else:
        pytest.fail("no two added documents moved a trained document to held out")
    trained = {stage: keys(store, stage) for stage in ("train", "evaluate")}
    with pytest.raises(ConfigError, match="ingest.split_rule=stable"):
        retrain(config=stratified, mode="continue")
    assert {stage: keys(store, stage) for stage in trained} == trained, "nothing trained"


def first_adapter_role(store: ArtifactStore, refs) -> dict | None:
    models = store.manifest("train", refs["train"].key)["models"]
    return next((m for m in models if m["role"] == "init_adapter"), None)
