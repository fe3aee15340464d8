"""Inner-knowledge explicitation through the stages on the tiny models: the answers stage samples K explicitations
per question, score verifies each one, curate trains on them with lineage to the document; off, nothing moves."""

from __future__ import annotations

import json

import pytest

from selftrain_core.config.loading import build_run_config
from selftrain_core.stages.answers import stage as answers
from selftrain_core.stages.answers.explicitation import Explicitation
from selftrain_core.stages.score import stage as score
from selftrain_core.stages.score import support
from selftrain_core.store import ArtifactStore
from selftrain_core.store.lineage import walk
from tests.conftest import tiny_config_data
from tests.pipeline import plan_keys, run_pipeline


@pytest.fixture(scope="module")
def explicit_run(tiny_lm, tiny_embedder, corpus_file, tmp_path_factory):
    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path_factory.mktemp("run") / "artifacts")
    data["answers"] |= {"explicitation": True, "explicitation_max_new_tokens": 12}
    # thresholds at the floor: every explicitation the tiny model writes is verified, so curate has rows
    data["curate"] = {
        "strategy": "inner-knowledge",
        "answerable_threshold": 0.0,
        "known_threshold": 1.0,
        "support_threshold": 0.0,
        "accept_threshold": 0.01,
        "contradict_threshold": 0.0,
    }
    cfg = build_run_config(data)
    with pytest.MonkeyPatch.context() as patch:
        # random weights write no "Answer:" marker (so no answer, and nothing verified): read each whole sample as
        # both its knowledge and its answer
        patch.setattr(support, "split_explicitation", lambda text: Explicitation(text, text, True))
        refs, _ = run_pipeline(cfg, stop_after="curate")
    return cfg, data, refs


def test_answers_carry_k_explicitations_with_their_own_seed_and_prompt(explicit_run):
    cfg, _, refs = explicit_run
    store = ArtifactStore(cfg.artifact_root)
    rows = store.read_rows(refs["answers"])
    assert rows and all(len(r["explicit"]) == len(r["explicit_finish"]) == cfg.answers.num_samples for r in rows)
    assert all(len(r["explicit_logprobs"]) == cfg.answers.num_samples for r in rows)
    pairs = [(lp, end) for r in rows for lp, end in zip(r["explicit_logprobs"], r["explicit_finish"], strict=True)]
    assert all(lp or end == "stop" for lp, end in pairs), "a sample with no token ended at once"
    seeds = json.loads(rows[0]["seeds"])
    assert set(seeds) == {"reference", "with_doc", "no_doc", "explicit"} and len(set(seeds.values())) == 4
    manifest = store.manifest("answers", refs["answers"].key)
    assert "explicit_knowledge" in {p["prompt_id"] for p in manifest["prompts"]}


def test_score_verifies_every_explicitation_in_the_unit_interval(explicit_run):
    cfg, _, refs = explicit_run
    store = ArtifactStore(cfg.artifact_root)
    for s in store.read_rows(refs["score"]):
        assert len(s["explicit_support"]) == len(s["explicit_scores"]) == cfg.answers.num_samples
        assert all(0.0 <= v <= 1.0 for v in s["explicit_support"] + s["explicit_scores"])
    assert store.manifest("score", refs["score"].key)["config"]["support_version"] == 1


def test_curated_explicitations_lead_back_to_the_document(explicit_run):
    cfg, _, refs = explicit_run
    store = ArtifactStore(cfg.artifact_root)
    sft = store.read_rows(refs["curate"], "sft")
    assert sft, "the floor thresholds verify the tiny model's explicitations"
    answers = {a["answer_id"]: a for a in store.read_rows(refs["answers"])}
    for row in sft:
        assert row["messages"][-1]["content"] == answers[row["answer_id"]]["explicit"][row["sample_index"]]
        assert "Knowledge:" in row["messages"][0]["content"]
    steps = walk(store, sft[0]["sft_id"])
    assert [s.stage for s in steps] == ["curate", "score", "answers", "questions", "chunk", "ingest"]
    assert store.manifest("curate", refs["curate"].key)["strategy"]["strategy"] == "inner-knowledge"


def test_explicitation_off_samples_and_keys_nothing_of_it(explicit_run):
    cfg, data, refs = explicit_run
    off = build_run_config({**data, "answers": {**data["answers"], "explicitation": False}, "curate": {}})
    assert (
        answers.schema(off) == answers.SCHEMA and score.schema(off) == score.SCHEMA
    )  # the default keys: test_plan_keys
    assert answers.roles(off) == answers.ROLES and "explicit" in answers.schema(cfg).names
    keys_on, keys_off = plan_keys(cfg), plan_keys(off)
    assert all(keys_on[s] == keys_off[s] for s in ("ingest", "chunk", "questions"))
    assert all(keys_on[s] != keys_off[s] for s in ("answers", "score", "curate"))
