"""Training on the tiny local model: every method and fine-tuning mode really trains, saves and reloads."""

from __future__ import annotations

import importlib.util
import json

import pyarrow as pa
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from selftrain_core.config.loading import build_run_config
from selftrain_core.errors import ConfigError, StageInputError
from selftrain_core.runs.preflight import check_run_supported
from selftrain_core.stages.base import RunInfo, make_plan
from selftrain_core.stages.train import stage as train
from selftrain_core.stages.train.data import preference_rows
from selftrain_core.stages.train.launch import accelerate_command, train_in_process
from selftrain_core.store import ArtifactStore, ArtifactWriter
from tests.conftest import tiny_config_data

QUESTIONS = ["What is the capital of France?", "Who wrote the book?", "What is the capital of Germany?"]
ANSWERS = ["Paris is the capital of France.", "The author was born in 1924.", "Berlin is the capital."]


def pair(i: int) -> dict:
    return {
        "pair_id": f"pair-{i}",
        "prompt": [{"role": "user", "content": QUESTIONS[i % 3]}],
        "chosen": [{"role": "assistant", "content": ANSWERS[i % 3]}],
        "rejected": [{"role": "assistant", "content": ANSWERS[(i + 1) % 3]}],
    }


PAIRS = [pair(i) for i in range(6)]
SFT = [{"sft_id": f"sft-{i}", "messages": p["prompt"] + p["chosen"]} for i, p in enumerate(PAIRS)]


@pytest.fixture
def config(tiny_lm, tiny_embedder, corpus_file, tmp_path):
    def make(**train_settings):
        data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts")
        data["train"] = {**data["train"], "learning_rate": 1e-2, "sft_learning_rate": 1e-2, **train_settings}
        return build_run_config(data)

    return make


class Snapshot(TrainerCallback):
    """Trainable parameters as each trainer starts (SFT then DPO: two snapshots)."""

    def __init__(self):
        self.before = []

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.before.append({n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad})


def logits(model, tokenizer, text="Paris is the capital"):
    ids = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        return model.eval()(**ids).logits


SFT_ROWS = [{"prompt": s["messages"][:1], "completion": s["messages"][1:]} for s in SFT]


def load_adapter(base_path, adapter):
    from peft import PeftModel

    return PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_path), adapter)


@pytest.mark.parametrize("method", ["dpo", "sft", "sft-then-dpo"])
def test_lora_training_changes_every_trainable_parameter_and_the_adapter_reloads(config, tmp_path, method):
    cfg = config(method=method, merge=True)
    snapshot = Snapshot()
    out = train_in_process(cfg, preference_rows(PAIRS)[0], SFT_ROWS, tmp_path / "out", [snapshot])
    phases = method.split("-then-")
    assert {h["phase"] for h in out.history if "loss" in h} == set(phases)
    assert len(snapshot.before) == len(phases), "one trainer per phase"
    saved = load_adapter(cfg.model.name, out.checkpoint)
    trained = dict(saved.named_parameters())
    for name, before in snapshot.before[-1].items():
        assert not torch.equal(trained[name].detach(), before), f"{name} did not change"
    assert not any(".ref." in name for name in trained), "the frozen DPO reference copy is not saved"
    tokenizer = AutoTokenizer.from_pretrained(out.checkpoint)
    adapted = logits(saved, tokenizer)
    assert torch.allclose(logits(load_adapter(cfg.model.name, out.checkpoint), tokenizer), adapted, atol=1e-6)
    assert not torch.allclose(logits(AutoModelForCausalLM.from_pretrained(cfg.model.name), tokenizer), adapted)
    merged = AutoModelForCausalLM.from_pretrained(out.merged)
    assert torch.allclose(logits(merged, tokenizer), adapted, atol=1e-4), "merged == base + adapter"


@pytest.mark.parametrize("method", ["dpo", "sft-then-dpo"])
def test_full_fine_tuning_changes_every_weight_it_trains(config, tmp_path, method):
    cfg = config(method=method, finetune="full")
    snapshot = Snapshot()
    out = train_in_process(cfg, preference_rows(PAIRS)[0], SFT_ROWS, tmp_path / "out", [snapshot])
    saved = dict(AutoModelForCausalLM.from_pretrained(out.checkpoint).named_parameters())
    changed = [n for n, before in snapshot.before[-1].items() if not torch.equal(saved[n].detach(), before)]
    assert len(changed) >= 0.9 * len(snapshot.before[-1]), "nearly every weight moves (some may get no gradient)"
    assert not (out.checkpoint / "adapter_config.json").exists()


def test_continuing_an_adapter_starts_from_it_and_keeps_training_it(config, tmp_path):
    first = train_in_process(config(), preference_rows(PAIRS)[0], [], tmp_path / "first")
    cfg = config(init_adapter=str(first.checkpoint))
    snapshot = Snapshot()
    second = train_in_process(cfg, preference_rows(PAIRS)[0], [], tmp_path / "second", [snapshot])
    start = snapshot.before[0]
    first_params = dict(load_adapter(cfg.model.name, first.checkpoint).named_parameters())
    assert all(torch.equal(first_params[n].detach(), start[n]) for n in start), "DPO starts from the given adapter"
    second_params = dict(load_adapter(cfg.model.name, second.checkpoint).named_parameters())
    assert any(not torch.equal(second_params[n].detach(), start[n]) for n in start)


def test_accelerate_launch_subprocess_trains_like_the_inline_path(config, tmp_path):
    cfg = config(launcher="accelerate")
    command = accelerate_command(cfg, tmp_path, on_gpu=False)
    assert command[-3:] == ["-m", "selftrain_core.stages.train.launch", str(tmp_path)] and "--cpu" in command
    multi = config(num_processes=4, distributed="deepspeed-zero3")
    config_file = accelerate_command(multi, tmp_path, on_gpu=True)
    assert config_file[config_file.index("--config_file") + 1].endswith("accelerate/deepspeed-zero3.yaml")
    out = train.train(cfg, preference_rows(PAIRS)[0], [], tmp_path / "sub", log=lambda _: None)
    assert (out.checkpoint / "adapter_model.safetensors").is_file()
    assert any("loss" in h for h in out.history)


def test_chosen_equal_to_rejected_and_empty_completions_are_dropped_with_a_reason():
    same = {**pair(0), "rejected": [{"role": "assistant", "content": "  paris IS the capital of france. "}]}
    same["chosen"] = [{"role": "assistant", "content": "Paris is the capital of  France."}]
    empty = {**pair(1), "rejected": [{"role": "assistant", "content": " "}]}
    rows, drops = preference_rows([same, empty, pair(2)])
    assert len(rows) == 1 and drops == {"chosen_equals_rejected": 1, "empty_completion": 1}


MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


def write_curated(store: ArtifactStore, pairs: list[dict], sft: list[dict]):
    """A curate artifact with the columns train reads (what curate writes, minus lineage)."""
    plan = make_plan("curate", 0, {"pairs": pairs, "sft": sft})
    writer = ArtifactWriter(store, "curate", plan.key)
    pair_schema = pa.schema([("pair_id", pa.string())] + [(k, MESSAGES) for k in ("prompt", "chosen", "rejected")])
    writer.write_table("data", pa.Table.from_pylist(pairs, schema=pair_schema))
    sft_schema = pa.schema([("sft_id", pa.string()), ("messages", MESSAGES)])
    writer.write_table("sft", pa.Table.from_pylist(sft, schema=sft_schema))
    return writer.commit({"drops": {"known": 5}})


def test_an_empty_curated_dataset_stops_training_with_a_clear_message_and_writes_nothing(config):
    cfg = config()
    store = ArtifactStore(cfg.artifact_root)
    curated = write_curated(store, [pair(0) | {"rejected": pair(0)["chosen"]}], SFT)
    plan = train.plan(cfg, curated)
    with pytest.raises(StageInputError, match=r"no DPO pairs to train on .*known.*chosen_equals_rejected"):
        train.run(cfg, plan, store, RunInfo(), log=lambda _: None)
    assert not store.fs.exists(store.dir("train", plan.key)), "no partial artifact"
    with pytest.raises(StageInputError, match="no SFT rows"):
        sft_cfg = config(method="sft")
        train.run(sft_cfg, train.plan(sft_cfg, write_curated(store, PAIRS, [])), store, RunInfo(), log=lambda _: None)


def test_the_train_stage_writes_checkpoint_model_cards_and_log(config):
    cfg = config(merge=True)
    store = ArtifactStore(cfg.artifact_root)
    curated = write_curated(store, PAIRS, SFT)
    ref = train.run(cfg, train.plan(cfg, curated), store, RunInfo(run_id="t"), log=lambda _: None)
    manifest = store.manifest("train", ref.key)
    assert manifest["checkpoint"] == {"kind": "adapter", "path": "adapter", "merged": True}
    assert {"adapter/README.md", "merged/README.md", "adapter/adapter_model.safetensors"} <= set(manifest["files"])
    assert not [f for f in manifest["files"] if f.endswith((".bin", ".pt", ".pkl"))], "no pickle in a checkpoint"
    adapter_config = json.loads(store.fs.cat_file(f"{store.dir('train', ref.key)}/adapter/adapter_config.json"))
    assert adapter_config["target_modules"] == sorted(adapter_config["target_modules"]), "same bytes every run"
    assert "train_runtime" not in json.dumps(manifest["final_metrics"]) and "train_runtime" in manifest["timing"]
    card = store.fs.cat_file(f"{store.dir('train', ref.key)}/adapter/README.md").decode()
    assert f"curate/{curated.key}" in card and "fingerprint" in card and '"loss"' in card
    assert store.read_rows(ref, "log") and manifest["pairs"] == len(PAIRS)
    assert manifest["hardware"] == {"device": "cpu", "bf16": False, "gradient_checkpointing": False}


def test_bad_training_settings_fail_before_any_work(config, tmp_path):
    with pytest.raises(ConfigError, match="train.init_adapter.*does not exist"):
        check_run_supported(config(init_adapter=str(tmp_path / "nowhere")))
    (tmp_path / "not-adapter").mkdir()
    with pytest.raises(ConfigError, match="train.init_adapter.*not a LoRA adapter folder"):
        check_run_supported(config(init_adapter=str(tmp_path / "not-adapter")))
    with pytest.raises(ConfigError, match="qlora needs a CUDA GPU"):
        cfg = config(finetune="qlora")
        train.plan(cfg, write_curated(ArtifactStore(cfg.artifact_root), PAIRS, SFT))


# --- trackers and progress: report_to=[tensorboard] writes each phase's losses where logging_dir says, named by the
# artifact key; the stage's progress goes 0 -> 100 over both phases; a tracker not installed is refused up front


def scalars(folder) -> dict[str, list[float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [e.value for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_tensorboard_gets_each_phases_losses_and_progress_reaches_100(config, tmp_path):
    cfg = config(method="sft-then-dpo", report_to=["tensorboard"], logging_dir=str(tmp_path / "runs"))
    store = ArtifactStore(cfg.artifact_root)
    plan = train.plan(cfg, write_curated(store, PAIRS, SFT))
    reported, lines = [], []
    train.run(cfg, plan, store, RunInfo(), lines.append, reported.append)

    run = tmp_path / "runs" / f"train-{plan.key}"
    assert sorted(p.name for p in run.iterdir()) == ["dpo", "sft"]
    dpo, sft = scalars(run / "dpo"), scalars(run / "sft")
    assert len(dpo["train/loss"]) == len(PAIRS) // 2, "one DPO loss per step (6 pairs, batch 2)"
    assert "train/rewards/margins" in dpo and len(sft["train/loss"]) == len(SFT) // 2
    assert reported == sorted(reported) and reported[-1] == pytest.approx(100.0) and reported[0] < 50.0
    assert any("train: step 3/3, loss" in line and "reward margin" in line for line in lines)


def test_a_tracker_that_is_not_installed_is_refused_before_any_work(config, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "trackio" else real(name, *a))
    with pytest.raises(ConfigError, match=r"train\.report_to.*trackio.*selftrain\[tracking\]"):
        check_run_supported(config(report_to=["trackio"]))
