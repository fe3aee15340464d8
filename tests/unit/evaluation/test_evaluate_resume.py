"""Evaluate's generation is written shard by shard: a crash after some models answered keeps their shards, the
rerun generates only the rest, and the artifact is the one an uninterrupted run writes."""

from __future__ import annotations

import pytest

from selftrain_core.errors import StageInputError
from selftrain_core.stages.evaluate import generation, stage
from tests.unit.evaluation.test_evaluate_tiny import run_evaluate, trained  # noqa: F401 (the module's fixture)


def counting(monkeypatch) -> list[int]:
    """Count the requests that reach a backend, per shard."""
    calls: list[int] = []
    real = generation.request_texts

    def counted(backend, items):
        calls.append(len(items))
        return real(backend, items)

    monkeypatch.setattr(generation, "request_texts", counted)
    return calls


def test_a_crash_after_the_base_answered_keeps_its_shards_and_the_rerun_answers_only_the_arm(
    trained,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    data, refs = trained
    settings = {"judge": {"enabled": False}, "shard_size": 5}
    whole_store, whole = run_evaluate(data, refs, str(tmp_path / "whole"), **settings)
    manifest = whole_store.manifest("evaluate", whole.key)
    assert {"answers_base", "answers_trained", "questions_new"} <= set(manifest["tables"])
    questions = {r["question_id"] for r in whole_store.read_rows(whole) if r["model"] == "base"}
    assert manifest["row_counts"]["answers_trained"] == len(questions)
    assert len(manifest["tables"]["answers_base"]) > 1, "shards of 5 requests"

    def crash(*args, **kwargs):
        raise RuntimeError("the worker died")

    with monkeypatch.context() as patch:
        patch.setattr(stage, "arm_answers", crash)
        with pytest.raises(RuntimeError, match="the worker died"):
            run_evaluate(data, refs, str(tmp_path / "resumed"), **settings)
    calls = counting(monkeypatch)
    store, ref = run_evaluate(data, refs, str(tmp_path / "resumed"), **settings)
    assert ref.key == whole.key
    assert sum(calls) == len(questions), "only the trained arm's answers are generated again"
    assert store.manifest("evaluate", ref.key)["files"] == manifest["files"], "the same bytes as one whole run"


def test_no_questions_left_after_the_new_ones_were_written_leaves_no_folder(
    trained,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    data, refs = trained
    real = stage.build_items

    def none_kept(*args):
        items, drops = real(*args)  # writes the questions_new shards
        return [], drops

    monkeypatch.setattr(stage, "build_items", none_kept)
    root = tmp_path / "empty"
    with pytest.raises(StageInputError, match="no evaluation questions"):
        run_evaluate(data, refs, str(root), judge={"enabled": False})
    assert not list((root / "evaluate").glob("*")), "a user's choice of sets leaves no partial artifact"
