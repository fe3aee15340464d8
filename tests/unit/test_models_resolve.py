"""Model resolution: hub ids through the Hugging Face cache (offline), local folders, aliases, errors."""

import shutil

import pytest

from selftrain_core.errors import ModelNotFoundError
from selftrain_core.models.loading import load_causal_lm, load_tokenizer
from selftrain_core.models.names import check_model_name
from selftrain_core.models.resolve import resolve_model

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _fake_hub_cache(cache, tiny_lm, repo="tiny-org/tiny-chat"):
    """Lay out `tiny_lm` as the Hugging Face cache would after a download of `repo` at COMMIT."""
    base = cache / f"models--{repo.replace('/', '--')}"
    shutil.copytree(tiny_lm, base / "snapshots" / COMMIT)
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(COMMIT)
    return repo


def test_hub_id_resolves_from_the_local_cache_with_its_commit(tiny_lm, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    repo = _fake_hub_cache(tmp_path, tiny_lm)
    resolved = resolve_model(repo)
    assert resolved.fingerprint == f"hf:{repo}@{COMMIT}" and resolved.source == "hub"
    model = load_causal_lm(resolved, device="cpu")
    assert model.config.num_hidden_layers == 2 and load_tokenizer(resolved).padding_side == "left"
    with pytest.raises(ModelNotFoundError, match="not found in the local Hugging Face cache"):
        resolve_model("tiny-org/missing-model")


def test_local_folder_fingerprint_follows_the_weights(tiny_lm, tmp_path):
    copy = shutil.copytree(tiny_lm, tmp_path / "copy")
    before = resolve_model(str(copy)).fingerprint
    assert before == resolve_model(str(tiny_lm)).fingerprint
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert resolve_model(str(copy)).fingerprint != before


def test_local_folder_fingerprint_follows_the_tokenizer_and_chat_template(tiny_lm, tmp_path):
    copy = shutil.copytree(tiny_lm, tmp_path / "copy")
    before = resolve_model(str(copy)).fingerprint
    (copy / "README.md").write_text("not part of the model", encoding="utf-8")
    assert resolve_model(str(copy)).fingerprint == before, "a model card does not change outputs"
    (copy / "chat_template.jinja").write_text("{{ messages[0]['content'] }}", encoding="utf-8")
    with_template = resolve_model(str(copy)).fingerprint
    assert with_template != before
    config = copy / "tokenizer_config.json"
    config.write_text(config.read_text(encoding="utf-8").replace("}", ', "model_max_length": 77}', 1), encoding="utf-8")
    assert resolve_model(str(copy)).fingerprint not in {before, with_template}


def test_names_are_checked_without_loading():
    assert check_model_name("smollm2-135m-instruct", "model") == "smollm2-135m-instruct"
    assert check_model_name("org/name", "model") == "org/name"
    with pytest.raises(ModelNotFoundError, match="offline embedder, not a model"):
        check_model_name("all-minilm-l6-v2", "model")
    with pytest.raises(ModelNotFoundError, match="Did you mean 'smollm2-135m-instruct'"):
        check_model_name("smollm2-135m-instruc", "model")
