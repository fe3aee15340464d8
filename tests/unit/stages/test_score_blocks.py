"""The score stage reads its answers shard by shard and writes a shard per block of questions: a crash keeps the
finished blocks, and the rerun scores only the rest, to the rows an uninterrupted run writes."""

import pytest

from selftrain_core.config.loading import build_run_config
from selftrain_core.errors import SelftrainError
from selftrain_core.stages.score import stage as score
from selftrain_core.store import ArtifactStore
from tests.conftest import tiny_config_data
from tests.pipeline import run_pipeline


def test_a_crash_mid_score_keeps_finished_blocks_and_the_rerun_scores_the_rest(
    tiny_lm, tiny_embedder, corpus_file, tmp_path, monkeypatch
):
    original, calls = score.score_rows, []

    def failing_third(*args, **kwargs):
        calls.append(len(args[1]))
        if len(calls) == 3:
            raise SelftrainError("the scorer's machine went away")
        return original(*args, **kwargs)

    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts")
    data["score"] = {"shard_size": 2}
    cfg = build_run_config(data)
    monkeypatch.setattr(score, "score_rows", failing_third)
    with pytest.raises(SelftrainError, match="went away"):
        run_pipeline(cfg, stop_after="score")
    calls.clear()
    monkeypatch.setattr(score, "score_rows", lambda *a, **k: calls.append(len(a[1])) or original(*a, **k))
    refs, _ = run_pipeline(cfg, stop_after="score")
    store = ArtifactStore(cfg.artifact_root)
    questions = store.manifest("answers", refs["answers"].key)["row_counts"]["data"]
    assert questions > 4 and sum(calls) == questions - 4, "the two finished blocks are not scored again"
    manifest = store.manifest("score", refs["score"].key)
    assert len(manifest["tables"]["data"]) == -(-questions // 2)  # a shard per block

    fresh_root = tmp_path / "fresh"
    fresh, _ = run_pipeline(build_run_config({**data, "artifact_root": str(fresh_root)}), stop_after="score")
    assert store.read_rows(refs["score"]) == ArtifactStore(str(fresh_root)).read_rows(fresh["score"])


def test_a_rerun_with_another_shard_size_drops_the_stale_blocks(
    tiny_lm, tiny_embedder, corpus_file, tmp_path, monkeypatch
):
    original, calls = score.score_rows, []

    def failing_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise SelftrainError("the scorer's machine went away")
        return original(*args, **kwargs)

    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts")
    monkeypatch.setattr(score, "score_rows", failing_third)
    with pytest.raises(SelftrainError, match="went away"):
        run_pipeline(build_run_config({**data, "score": {"shard_size": 2}}), stop_after="score")
    monkeypatch.setattr(score, "score_rows", original)
    refs, _ = run_pipeline(build_run_config({**data, "score": {"shard_size": 3}}), stop_after="score")
    store = ArtifactStore(data["artifact_root"])
    rows = store.read_rows(refs["score"])
    assert len(rows) == len({r["answer_id"] for r in rows}) == len(store.read_rows(refs["answers"]))
    assert len(store.manifest("score", refs["score"].key)["tables"]["data"]) == -(-len(rows) // 3)
