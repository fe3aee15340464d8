"""trainers.make_trainer: the TRL trainer `fit` trains and bench/dpo_step.py steps by hand, built from the train
code's args as given."""

from __future__ import annotations

import os

import torch
from trl import DPOTrainer

from selftrain_core.config.loading import build_run_config
from selftrain_core.stages.train.hardware import training_hardware
from selftrain_core.stages.train.model import load_trainable
from selftrain_core.stages.train.trainers import TENSORBOARD_ENV, dpo_args, make_trainer
from tests.conftest import tiny_config_data

ROWS = [
    {
        "prompt": [{"role": "user", "content": f"What is the capital of country {i}?"}],
        "chosen": [{"role": "assistant", "content": f"City {i} is the capital."}],
        "rejected": [{"role": "assistant", "content": "The author was born in 1924."}],
    }
    for i in range(4)
]


def test_make_trainer_builds_an_untrained_trainer_that_steps_by_hand(tiny_lm, tiny_embedder, corpus_file, tmp_path):
    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts")
    data["train"] |= {"learning_rate": 1e-2, "report_to": ["tensorboard"], "logging_dir": str(tmp_path / "runs")}
    cfg = build_run_config(data)
    hw = training_hardware(cfg.train, "cpu")
    args = dpo_args(cfg, hw, str(tmp_path / "out"))
    before_env = os.environ.get(TENSORBOARD_ENV)

    trainer = make_trainer(cfg, DPOTrainer, args, load_trainable(cfg, hw), ROWS, "dpo")

    assert os.environ.get(TENSORBOARD_ENV) == before_env, "the phase's TensorBoard folder is set only while building"
    assert trainer.state.global_step == 0 and len(trainer.train_dataset) == len(ROWS)
    assert not trainer.args.bf16 and not trainer.args.gradient_checkpointing, "the train code's CPU settings"
    assert trainer.args.precompute_ref_log_probs and trainer.args.beta == cfg.train.beta

    # one optimizer step as bench/dpo_step.py takes it: every LoRA B moves (A gets no gradient while B is still 0)
    trainer.create_optimizer_and_scheduler(num_training_steps=1)
    trainer.current_gradient_accumulation_steps = 1
    trainer.model.train()
    lora = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert lora and all("lora_" in n for n in lora)
    trainer.training_step(trainer.model, next(iter(trainer.get_train_dataloader())))
    trainer.optimizer.step()
    after = dict(trainer.model.named_parameters())
    moved = {n for n, p in lora.items() if not torch.equal(after[n].detach(), p)}
    assert moved == {n for n in lora if "lora_B" in n}
