"""What a Ray actor is sent: a LoRA adapter the driver names (a previous round's, in the driver's cache) travels with
the spec as files, so an actor on a node without that folder opens the same adapter from a folder of its own, which
goes when the actor's backend closes."""

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from selftrain_core.backends.settings import GenerationSettings
from selftrain_core.cluster import jobs
from selftrain_core.cluster.jobs import BackendSpec
from selftrain_core.config.loading import build_run_config
from selftrain_core.errors import ConfigError
from selftrain_core.stages.score.engine import ScorerSpec, model_roles, scorer_models
from tests.conftest import tiny_config_data

FILES = {
    "adapter_config.json": b'{"peft_type": "LORA", "r": 4}',
    "adapter_model.safetensors": b"\x00\x01weights",
    "sub/extra.txt": b"x",
}


def adapter_folder(path):
    for rel, data in FILES.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_bytes(data)
    return path


def lora_adapter(base, folder: Path) -> Path:
    """A real (untrained) LoRA adapter on the tiny model: the self-reward scorer opens the policy at once."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base), LoraConfig(r=2, target_modules=["q_proj"]))
    model.save_pretrained(folder)
    return folder


def files_under(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_an_actor_opens_the_drivers_adapter_from_a_folder_of_its_own(tiny_lm, tmp_path, monkeypatch):
    driver = adapter_folder(tmp_path / "driver-cache" / "adapter")
    settings = GenerationSettings(section="answers", backend="hf", model=str(tiny_lm), adapter=str(driver))
    spec = BackendSpec.of(settings, settings.resolve().fingerprint)
    shutil.rmtree(tmp_path / "driver-cache")  # the actor's node has no such folder
    opened = []

    def open_backend(settings, model):
        opened.append((settings.adapter, files_under(Path(settings.adapter))))
        return SimpleNamespace(usage="usage", close=lambda: opened.append("closed"))

    monkeypatch.setattr(jobs, "open_backend", open_backend)
    backend = spec.open("node-2")
    (folder, files), *_ = opened
    assert folder != str(driver) and files == FILES
    assert backend.usage == "usage", "the backend's attributes pass through"
    backend.close()
    assert opened[-1] == "closed" and not Path(folder).exists(), "the actor's copy goes with its backend"


def test_an_adapter_folder_missing_on_the_driver_is_named(tiny_lm, tmp_path):
    settings = GenerationSettings(section="answers", backend="hf", model=str(tiny_lm), adapter=str(tmp_path / "gone"))
    with pytest.raises(ConfigError, match="gone does not exist"):
        BackendSpec.of(settings, "fingerprint")


def test_a_policy_scorer_on_an_actor_scores_through_the_drivers_adapter(tiny_lm, tiny_embedder, corpus_file, tmp_path):
    driver = lora_adapter(tiny_lm, tmp_path / "adapter")
    saved = files_under(driver)
    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts")
    cfg = build_run_config(
        {**data, "model": {**data["model"], "adapter": str(driver)}, "score": {"scorer": "self-reward"}}
    )
    assert "policy" in model_roles(cfg)
    fingerprints = {role: model.fingerprint for role, model in scorer_models(cfg).items()}
    spec = ScorerSpec.of(cfg, fingerprints)
    shutil.rmtree(driver)
    engine = spec.open("node-2")
    copy = engine.models.policy_adapter
    assert copy != str(driver) and files_under(Path(copy)) == saved
    engine.close()
    assert not Path(copy).exists()
    without = ScorerSpec.of(build_run_config(data), {})
    assert without.adapter is None, "no adapter: nothing to send"
