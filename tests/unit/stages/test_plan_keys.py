"""The artifact keys of the offline preset are pinned: a refactor (issue "A house a newcomer can live in") must not
move them, or every user's cache goes stale at once. A change that should move a key (a stage's VERSION, a new result
setting) updates the pinned value here, in the same commit, saying why. Last moved: questions, answers and evaluate
bumped their versions when the hf sampler began to draw by inverse CDF from per-row streams (new samples wherever
the temperature is above 0), which moves every key from questions down. The preset's model.dtype became `auto`: on
a CPU without native bf16 it resolves to float32 and these keys stayed; on one with it, to bfloat16 (other keys)."""

from __future__ import annotations

import pytest

from selftrain_core.config.loading import load_run_config
from selftrain_core.models import precision
from tests.pipeline import plan_keys

PINNED = {
    "ingest": "0b8c6ff4c8fb49807e65",
    "chunk": "6cd66982db030de2ebc7",
    "questions": "4f53c7d11064ac894397",
    "answers": "770fe9a6588cb466653f",
    "score": "c7261cd19cf5e91bae18",
    "curate": "3e3b1f8c5febc73e4f18",
    "train": "37455fc87b8c6bb4e854",
    "evaluate": "4a872d8795cce0aa8a5b",
}


@pytest.fixture(autouse=True)
def avx2_cpu(monkeypatch):
    """The pinned keys are a CPU's without native bf16 (model.dtype auto resolves to float32 there)."""
    monkeypatch.setattr(precision, "native_bf16_cpu", lambda: False)


def test_the_offline_preset_keys_do_not_move():
    assert plan_keys(load_run_config("offline-cpu")) == PINNED  # each stage planned on the one before, nothing runs


def test_keys_depend_on_results_not_on_where_artifacts_live_or_runtime_settings():
    cfg = load_run_config(
        "offline-cpu", ["artifact_root=memory://elsewhere", "answers.batch_size=3", "model.device=cpu"]
    )
    assert plan_keys(cfg) == PINNED
    moved = plan_keys(load_run_config("offline-cpu", ["curate.known_threshold=0.7"]))
    assert {s for s in PINNED if moved[s] != PINNED[s]} == {"curate", "train", "evaluate"}


def test_on_a_cpu_with_native_bf16_auto_keys_as_bfloat16_from_questions_down(monkeypatch):
    monkeypatch.setattr(precision, "native_bf16_cpu", lambda: True)
    amx = plan_keys(load_run_config("offline-cpu"))
    assert {s for s in PINNED if amx[s] != PINNED[s]} == set(PINNED) - {"ingest", "chunk"}
    bf16 = plan_keys(load_run_config("offline-cpu", ["model.dtype=bfloat16"]))
    # the sampling stages key as bfloat16; training stays float32 under auto (bfloat16 given: trained in bfloat16)
    assert {s for s in PINNED if amx[s] != bf16[s]} == {"train", "evaluate"}
    assert plan_keys(load_run_config("offline-cpu", ["model.dtype=float32"])) == PINNED
