"""The questions stage resumes like answers: a crash keeps finished shards of completions, the rerun generates
only the rest, and its questions (kept and rejected) equal an uninterrupted run's."""

from __future__ import annotations

import pytest

from selftrain_core.config.loading import build_run_config
from selftrain_core.stages.base import RunInfo
from selftrain_core.stages.questions import stage as questions
from selftrain_core.store import ArtifactStore
from tests.conftest import tiny_config_data
from tests.pipeline import run_pipeline


class Crash(RuntimeError):
    pass


def test_a_crashed_questions_stage_resumes_from_its_shards(tiny_lm, tiny_embedder, corpus_file, tmp_path):
    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path / "a")
    data["questions"] = {**data["questions"], "shard_size": 2, "batch_size": 2, "filters": ["near_duplicate"]}
    cfg = build_run_config(data)
    refs, _ = run_pipeline(cfg, stop_after="chunk")
    store = ArtifactStore(cfg.artifact_root)
    chunks = len(store.read_rows(refs["chunk"]))
    assert chunks > 4, "several shards"
    plan = questions.plan(cfg, refs["chunk"])

    def crash_in_second_shard(percent: float) -> None:
        if percent * chunks / 100 > 2:
            raise Crash("killed mid-stage")

    with pytest.raises(Crash):
        questions.run(cfg, plan, store, RunInfo(), lambda _: None, crash_in_second_shard)
    folder = tmp_path / "a" / "questions" / plan.key
    assert [p.name for p in folder.glob("generated-*.parquet")] == ["generated-00000.parquet"]
    assert not (folder / "manifest.json").exists()

    lines: list[str] = []
    resumed = questions.run(cfg, plan, store, RunInfo(), lines.append)
    assert any("resuming, 1 of" in line for line in lines)
    manifest = store.manifest("questions", plan.key)
    assert manifest["resumed_shards"] == 1 and manifest["shards"] == -(-chunks // 2)
    assert manifest["usage"]["requests"] == chunks - 2, "the finished shard was not generated again"

    clean_cfg = build_run_config({**data, "artifact_root": str(tmp_path / "b")})
    clean_refs, _ = run_pipeline(clean_cfg, stop_after="questions")
    assert clean_refs["questions"].key == resumed.key
    clean_store = ArtifactStore(clean_cfg.artifact_root)
    for table in ("data", "rejected"):
        assert store.read_table(resumed, table).equals(clean_store.read_table(clean_refs["questions"], table))
