"""The whole pipeline on tiny local models: artifacts, caching, keys, resume, training, lineage."""

import pytest

from selftrain_core.config.loading import build_run_config
from selftrain_core.stages.answers import stage as answers
from selftrain_core.stages.base import RunInfo
from selftrain_core.store import ArtifactStore
from selftrain_core.store.lineage import walk
from tests.conftest import tiny_config_data
from tests.pipeline import plan_keys, plan_of, run_pipeline


def thresholds_inside(scores: list[dict]) -> dict[str, float]:
    """Curate thresholds taken from the train scores, so each rule decides something: the answerable threshold is
    the second-lowest S_L (the lowest question is unanswerable), the known threshold the middle distinct S_K of the
    answerable ones (those below it are unknown and trained, the others known and dropped)."""
    train = [s for s in scores if s["split"] == "train"]
    s_l = sorted({s["s_l"] for s in train})
    assert len(s_l) >= 2, f"the tiny models gave every train question the same S_L: {s_l}"
    s_k = sorted({s["s_k"] for s in train if s["s_l"] >= s_l[1]})
    assert len(s_k) >= 2, f"the tiny models gave every answerable question the same S_K: {s_k}"
    return {"answerable_threshold": s_l[1], "known_threshold": s_k[len(s_k) // 2]}


@pytest.fixture(scope="module")
def finished(tiny_lm, tiny_embedder, corpus_file, tmp_path_factory):
    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path_factory.mktemp("run") / "artifacts")
    scored, _ = run_pipeline(build_run_config(data), stop_after="score")
    data["curate"] = thresholds_inside(ArtifactStore(data["artifact_root"]).read_rows(scored["score"]))
    cfg = build_run_config(data)
    refs, _ = run_pipeline(cfg)  # ingest..score are cache hits
    assert {s: refs[s] for s in scored} == scored
    return cfg, data, refs


def expected_reason(cfg, score: dict, answer: dict) -> str | None:
    """The curate rule a train question meets (None: trained), written out from the stated rules."""
    if not answer["reference"].strip():
        return "empty_reference"
    if score["s_l"] < cfg.curate.answerable_threshold:
        return "unanswerable"
    if score["s_k"] >= cfg.curate.known_threshold:
        return "known"
    return None


def test_curation_trains_exactly_the_answerable_unknown_questions_and_drops_the_rest(finished):
    cfg, _, refs = finished
    store = ArtifactStore(cfg.artifact_root)
    answers_by_id = {a["answer_id"]: a for a in store.read_rows(refs["answers"])}
    train = [s for s in store.read_rows(refs["score"]) if s["split"] == "train"]
    expected = {s["question_id"]: expected_reason(cfg, s, answers_by_id[s["answer_id"]]) for s in train}
    in_band = {q for q, reason in expected.items() if reason is None}
    dropped = {q: reason for q, reason in expected.items() if reason is not None}
    assert in_band and "unanswerable" in dropped.values() and "known" in dropped.values(), expected

    pairs, sft = store.read_rows(refs["curate"]), store.read_rows(refs["curate"], "sft")
    rejected = {r["question_id"]: r["reason"] for r in store.read_rows(refs["curate"], "rejected")}
    assert {r["question_id"] for r in sft} == in_band and len(sft) == len(in_band)
    assert pairs and {p["question_id"] for p in pairs} <= in_band and {p["label"] for p in pairs} == {"unknown"}
    assert {q: rejected[q] for q in dropped} == dropped
    manifest = store.manifest("curate", refs["curate"].key)
    assert manifest["thresholds"] == {k: getattr(cfg.curate, k) for k in ("answerable_threshold", "known_threshold")}
    assert manifest["drops"]["unanswerable"] == sum(r == "unanswerable" for r in dropped.values())
    assert manifest["drops"]["known"] == sum(r == "known" for r in dropped.values())


def test_every_stage_writes_a_verified_artifact_with_lineage_columns(finished):
    cfg, _, refs = finished
    store = ArtifactStore(cfg.artifact_root)
    for stage, ref in refs.items():
        manifest = store.manifest(stage, ref.key)
        assert store.verify(stage, ref.key) == [], stage
        assert manifest["run"]["run_id"] == "test" and manifest["stage"] == stage
        assert [p["key"] for p in manifest["parents"]] == [p.key for p in plan_of(stage, cfg, refs).parents]
    pairs = store.read_rows(refs["curate"])
    assert pairs, "the thresholds inside the scores keep some train questions"
    assert {m["role"] for p in pairs for m in p["prompt"] + p["chosen"] + p["rejected"]} == {"user", "assistant"}
    answers_rows = store.read_rows(refs["answers"])
    assert all(len(a["no_doc"]) == 2 == len(a["with_doc_logprobs"]) for a in answers_rows)
    metrics = store.read_rows(refs["evaluate"], "metrics")
    assert {m["model"] for m in metrics} == {"base", "trained", "trained-base", "judge:trained", "scorer"}
    assert (store.fs.cat_file(f"{store.dir('evaluate', refs['evaluate'].key)}/report.md")).startswith(b"# Evaluation")
    adapter_files = store.manifest("train", refs["train"].key)["files"]
    assert {"adapter/adapter_model.safetensors", "adapter/adapter_config.json", "adapter/README.md"} <= set(
        adapter_files
    )


def test_lineage_walks_from_pair_to_document(finished):
    cfg, _, refs = finished
    store = ArtifactStore(cfg.artifact_root)
    pair = store.read_rows(refs["curate"])[0]
    steps = walk(store, pair["pair_id"])
    assert [s.stage for s in steps] == ["curate", "score", "answers", "questions", "chunk", "ingest"]
    assert [s.key for s in steps] == [refs[s.stage].key for s in steps]
    assert steps[0].extra["thresholds"] == thresholds_inside(store.read_rows(refs["score"]))
    chunk_step, doc_step = steps[-2], steps[-1]
    doc = next(d for d in store.read_rows(refs["ingest"]) if d["doc_id"] == doc_step.row_id)
    chunk = next(c for c in store.read_rows(refs["chunk"]) if c["chunk_id"] == chunk_step.row_id)
    assert doc["text"][chunk_step.fields["char_start"] : chunk_step.fields["char_end"]] == chunk["text"]
    assert doc_step.fields["source"].startswith("local:") and doc_step.fields["split"] == "train"


def test_second_run_is_all_cache_hits(finished):
    cfg, _, refs = finished
    again, lines = run_pipeline(cfg)
    assert again == refs
    assert sum("cache hit" in line for line in lines) == 8


def test_keys_change_only_below_the_changed_setting(finished):
    _, data, refs = finished
    base = plan_keys(build_run_config(data))
    assert base == {s: r.key for s, r in refs.items()}
    lower = {**data["curate"], "known_threshold": data["curate"]["known_threshold"] / 2}
    threshold = plan_keys(build_run_config({**data, "curate": lower}))
    assert [s for s in base if base[s] != threshold[s]] == ["curate", "train", "evaluate"]
    batch = {
        **data,
        "answers": {**data["answers"], "batch_size": 1, "shard_size": 5},
        "evaluate": {**data["evaluate"], "batch_size": 2},
    }
    assert plan_keys(build_run_config(batch)) == base
    sampling = plan_keys(build_run_config({**data, "answers": {**data["answers"], "temperature": 0.7}}))
    assert [s for s in base if base[s] != sampling[s]] == ["answers", "score", "curate", "train", "evaluate"]


def test_answers_resume_after_a_crash_gives_identical_shards(finished, tmp_path, monkeypatch):
    cfg, data, refs = finished
    store_full = ArtifactStore(cfg.artifact_root)
    crashed_cfg = build_run_config({**data, "artifact_root": str(tmp_path / "crashed")})
    upstream, _ = run_pipeline(crashed_cfg, stop_after="questions")
    plan = plan_of("answers", crashed_cfg, upstream)
    assert plan.key == refs["answers"].key
    store = ArtifactStore(crashed_cfg.artifact_root)

    real_row = answers.answer_row
    calls = {"n": 0}

    def crash_in_second_shard(*args, **kwargs):  # shard_size is 2: the third row is in the second shard
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real_row(*args, **kwargs)

    monkeypatch.setattr(answers, "answer_row", crash_in_second_shard)
    with pytest.raises(KeyboardInterrupt):
        answers.run(crashed_cfg, plan, store, RunInfo(), log=lambda _: None)
    monkeypatch.undo()
    assert not store.has_manifest("answers", plan.key)
    lines = []
    answers.run(crashed_cfg, plan, store, RunInfo(), log=lines.append)
    assert any("resuming, 1 of" in line for line in lines)
    resumed, full = store.manifest("answers", plan.key), store_full.manifest("answers", plan.key)
    assert resumed["files"] == full["files"], "same rows, same checksums as the uninterrupted run"


@pytest.mark.parametrize("strategy", ["rejection-sampling", "confident-preference", "self-rewarding", "sft-references"])
def test_every_strategys_rows_walk_to_the_sample_and_document_they_came_from(finished, strategy):
    from selftrain_core.stages.curate import stage as curate
    from selftrain_core.stages.curate.config import CurateConfig

    cfg, _, refs = finished
    store = ArtifactStore(cfg.artifact_root)
    scores = [s for s in store.read_rows(refs["score"]) if s["split"] == "train"]
    # thresholds from the question whose samples' scores spread most: it has an accepted and a contradicting one
    widest = max(scores, key=lambda s: max(s["no_doc_scores"]) - min(s["no_doc_scores"]))["no_doc_scores"]
    assert max(widest) > min(widest), "the tiny run's samples all scored the same"
    settings = {"strategy": strategy, "answerable_threshold": 0.0, "known_threshold": 1.0, "min_score_gap": 0.0}
    settings |= {"accept_threshold": max(widest), "contradict_threshold": min(widest)}
    # the tiny run's per-sample scores stand in for the judge's grades (self-rewarding reads them the same way)
    arm = cfg.model_copy(update={"curate": CurateConfig(**settings)})
    plan = curate.plan(arm, refs["score"], refs["answers"])
    assert plan.key != refs["curate"].key
    ref = curate.run(arm, plan, store, RunInfo(run_id="test", iteration=1), log=lambda _: None)
    manifest = store.manifest("curate", ref.key)
    assert manifest["strategy"]["strategy"] == strategy and "accept_threshold" in manifest["strategy"]
    answers_by_id = {a["answer_id"]: a for a in store.read_rows(refs["answers"])}
    rows = store.read_rows(ref) + store.read_rows(ref, "sft")
    assert rows, f"{strategy} made no row on the tiny run"
    for row in rows:
        steps = walk(store, row.get("pair_id") or row["sft_id"])
        assert [s.stage for s in steps] == ["curate", "score", "answers", "questions", "chunk", "ingest"]
        assert [s.key for s in steps[1:]] == [refs[s.stage].key for s in steps[1:]] and steps[0].key == ref.key
        samples = answers_by_id[steps[2].row_id]["no_doc"]
        if "pair_id" in row:
            texts = (row["chosen"][-1]["content"], row["rejected"][-1]["content"])
            indices = (steps[0].fields["chosen_sample_index"], steps[0].fields["rejected_sample_index"])
        else:
            texts, indices = (row["messages"][-1]["content"],), (steps[0].fields["sample_index"],)
        for text, index in zip(texts, indices, strict=True):  # the sample a row trained on, found by its index
            assert text == (answers_by_id[steps[2].row_id]["reference"] if index is None else samples[index])
