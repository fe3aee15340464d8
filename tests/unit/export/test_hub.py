"""Publishing to the hub, against a local hub (tests/hub_server.py): the files and cards arrive byte for byte, the
token travels only in the Authorization header, and a user's mistakes get messages naming what is wrong."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import datasets
import pytest
import torch
from huggingface_hub import constants
from peft import PeftModel
from pydantic import ValidationError
from transformers import AutoModelForCausalLM, AutoTokenizer

from selftrain_core.config.publish import PublishConfig
from selftrain_core.config.signature import run_signature
from selftrain_core.errors import ConfigError
from selftrain_core.export.hub import PublishError, hub_token, publish_train, push_model
from selftrain_core.stages.base import make_plan
from selftrain_core.stages.train import stage as train
from selftrain_core.stages.train.model_card import USAGE
from selftrain_core.store import ArtifactRef, ArtifactStore, ArtifactWriter
from tests.unit.export.conftest import TOKEN, TOKEN_ENV, settings


def on_disk(files: dict[str, bytes], folder: Path) -> Path:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def folder_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_token_nowhere(root: Path, records: list[logging.LogRecord], *texts: str) -> None:
    assert [p for p in root.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()] == []
    assert [r.getMessage() for r in records if TOKEN in r.getMessage()] == []
    assert [t for t in texts if TOKEN in t] == []


def test_adapter_and_dataset_arrive_with_their_cards_and_the_token_only_in_the_header(
    trained, hub, caplog, capsys, tmp_path
):
    cfg, store, ref, curated = trained
    publish = settings(hub, model_repo_id="me/tiny-adapter", dataset_repo_id="me/tiny-data")
    lines: list[str] = []
    results = publish_train(store, ref, publish, hub_token(publish), log=lines.append)

    assert [(r.what, r.repo_id, r.artifact) for r in results] == [
        ("dataset", "me/tiny-data", f"curate/{curated.key}"),
        ("adapter", "me/tiny-adapter", f"train/{ref.key}"),
    ]
    adapter = folder_files(Path(store.dir("train", ref.key)) / "adapter")
    pushed = hub.files("model", "me/tiny-adapter")
    assert set(pushed) == set(adapter) and "adapter_model.safetensors" in pushed
    assert all(pushed[n] == b for n, b in adapter.items() if n != "README.md"), "the adapter's files, byte for byte"
    card = pushed["README.md"].decode()
    assert f"train/{ref.key}" in card and f"curate/{curated.key}" in card and "library_name: peft" in card
    assert "datasets:\n- me/tiny-data" in card, "the model card links the dataset repo"
    model_repo = hub.repos[("model", "me/tiny-adapter")]
    assert model_repo.private
    assert model_repo.commits[-1]["summary"] == f"selftrain adapter from train artifact {ref.key}"
    assert results[1].commit == model_repo.commits[-1]["oid"] and results[1].commit_url.endswith(results[1].commit)
    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(cfg.model.name), on_disk(pushed, tmp_path / "a"))

    data = hub.files("dataset", "me/tiny-data")
    loaded = datasets.load_from_disk(str(on_disk(data, tmp_path / "d")))
    assert sorted(loaded["dpo"]["pair_id"]) == sorted(r["pair_id"] for r in store.read_rows(curated))
    assert sorted(loaded["sft"]["sft_id"]) == sorted(r["sft_id"] for r in store.read_rows(curated, "sft"))
    card = data["README.md"].decode()
    assert curated.key in card and "config_name: dpo" in card and "path: sft/*.arrow" in card
    assert hub.repos[("dataset", "me/tiny-data")].commits[-1]["summary"].endswith(curated.key)

    assert {r["authorization"] for r in hub.requests} == {f"Bearer {TOKEN}"}
    assert {r["route"] for r in hub.requests} == {"create", "validate", "preupload", "commit"}
    assert all(r["status"] < 400 for r in hub.requests), hub.requests
    assert store.verify("train", ref.key) == [] and store.verify("curate", curated.key) == [], "artifacts untouched"
    out = capsys.readouterr()
    assert_token_nowhere(Path(cfg.artifact_root), caplog.records, *lines, out.out, out.err, *map(repr, results))
    assert [n for files in (pushed, data) for n, b in files.items() if TOKEN.encode() in b] == []

    again = push_model(store, ref, publish, TOKEN, log=lines.append)  # the repo exists: a new commit in it
    assert [r["status"] for r in hub.requests if r["route"] == "create"][-1] == 409
    assert len(model_repo.commits) == 2 and again.commit == model_repo.commits[-1]["oid"]


def test_a_merged_model_goes_to_its_branch_and_equals_base_plus_adapter(trained, hub, tmp_path):
    cfg, store, ref, _ = trained
    publish = settings(hub, model_repo_id="org/tiny-merged", model_what="merged", revision="exp", private=False)
    [result] = publish_train(store, ref, publish, TOKEN, log=lambda _: None)
    assert (result.what, result.revision) == ("merged", "exp")
    assert hub.files("model", "org/tiny-merged", "main") == {}, "committed to the branch only"
    pushed = hub.files("model", "org/tiny-merged", "exp")
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= set(pushed)
    assert not [n for n in pushed if n.startswith("adapter")]
    card = pushed["README.md"].decode()
    assert "library_name: transformers" in card and USAGE["merged"] in card and "PeftModel" not in card
    assert "- lora" not in card and "merged model for" in card and ref.key in card
    assert not hub.repos[("model", "org/tiny-merged")].private

    tokenizer = AutoTokenizer.from_pretrained(cfg.model.name)
    ids = tokenizer("Paris is the capital", return_tensors="pt")
    base = AutoModelForCausalLM.from_pretrained(cfg.model.name)
    with torch.no_grad():
        base_logits = base(**ids).logits
        adapted = PeftModel.from_pretrained(base, f"{store.dir('train', ref.key)}/adapter")(**ids).logits
        merged = AutoModelForCausalLM.from_pretrained(on_disk(pushed, tmp_path / "m"))(**ids).logits
    assert not torch.allclose(adapted, base_logits, atol=1e-4), "the adapter changed the model"
    assert torch.allclose(merged, adapted, atol=1e-4), "merged == base + adapter"


def write_evaluate(store: ArtifactStore, train_key: str, card: str) -> ArtifactRef:
    writer = ArtifactWriter(store, "evaluate", make_plan("evaluate", 0, {"card": card, "train": train_key}).key)
    writer.write_bytes("cards/trained/README.md", card.encode())
    parents = [{"stage": "train", "key": train_key, "uri": store.uri("train", train_key)}]
    return writer.commit({"config": {"arms": ["trained"]}, "parents": parents})


def test_the_evaluate_artifact_card_is_the_model_card_when_given(trained, hub):
    _, store, ref, _ = trained
    evaluate = write_evaluate(store, ref.key, "---\nlibrary_name: peft\n---\n# evaluated: EVIDENCE-42\n")
    push_model(store, ref, settings(hub, model_repo_id="me/evaluated"), TOKEN, evaluate, log=lambda _: None)
    assert "EVIDENCE-42" in hub.files("model", "me/evaluated")["README.md"].decode()
    other = write_evaluate(store, "not-this-checkpoint", "# other\n")
    with pytest.raises(ConfigError, match=f"did not evaluate train artifact {ref.key}"):
        push_model(store, ref, settings(hub, model_repo_id="me/evaluated"), TOKEN, other, log=lambda _: None)


def test_mistakes_get_messages_naming_what_is_wrong_and_never_the_token(trained, hub, monkeypatch):
    _, store, ref, _ = trained
    publish = settings(hub, model_repo_id="me/tiny")
    monkeypatch.delenv(TOKEN_ENV)
    with pytest.raises(ConfigError, match=f"no Hugging Face token: the environment variable {TOKEN_ENV}"):
        hub_token(publish)
    secret = PublishConfig(model_repo_id="me/tiny", token_secret="hf-write")
    with pytest.raises(ConfigError, match="'hf-write' names a Prefect Secret block"):
        hub_token(secret)
    assert hub_token(secret, {"hf-write": f" {TOKEN}\n"}.__getitem__) == TOKEN
    with pytest.raises(ConfigError, match="Prefect Secret block 'hf-write'"):
        hub_token(secret, {"hf-write": ""}.__getitem__)

    wrong = "hf_wrong" + secrets.token_hex(8)
    with pytest.raises(PublishError, match=rf"refused the token from the environment variable {TOKEN_ENV}.*401") as err:
        push_model(store, ref, publish, wrong, log=lambda _: None)
    assert wrong not in str(err.value) and hub.repos == {}
    with pytest.raises(ValidationError, match=r"(?s)model_repo_id.*not a hub repo id"):
        PublishConfig(model_repo_id="no-namespace")
    unchecked = PublishConfig.model_construct(**{**publish.model_dump(), "model_repo_id": "me/two--dashes"})
    with pytest.raises(ConfigError, match="'me/two--dashes' is not a valid hub repo id"):
        push_model(store, ref, unchecked, TOKEN, log=lambda _: None)
    with pytest.raises(ConfigError, match="nothing to publish"):
        publish_train(store, ref, settings(hub), TOKEN)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ConfigError, match="HF_HUB_OFFLINE is set"):
        push_model(store, ref, publish, TOKEN, log=lambda _: None)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    closed = PublishConfig(model_repo_id="me/tiny", endpoint="http://127.0.0.1:9")
    with pytest.raises(PublishError, match="cannot reach the hub at http://127.0.0.1:9"):
        push_model(store, ref, closed, TOKEN, log=lambda _: None)


def test_publish_settings_change_no_artifact_key_and_no_run_signature(trained):
    cfg, _, ref, curated = trained
    publishing = cfg.model_copy(update={"publish": PublishConfig(model_repo_id="me/x", dataset_repo_id="me/y")})
    assert train.plan(publishing, curated).key == train.plan(cfg, curated).key == ref.key
    assert run_signature(publishing) == run_signature(cfg)
    assert all(field.json_schema_extra == {"runtime": True} for field in PublishConfig.model_fields.values())
