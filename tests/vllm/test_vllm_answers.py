"""The answers stage through vLLM writes exactly the hf backend's rows (schema, K samples, logprobs, finishes)."""

from __future__ import annotations

import pytest

from selftrain_core.config.loading import build_run_config
from selftrain_core.stages.answers import stage as answers
from selftrain_core.store import ArtifactStore
from tests.conftest import tiny_config_data
from tests.judge_rows import answer_rows
from tests.pipeline import run_pipeline

pytestmark = pytest.mark.integration


def test_answers_through_vllm_have_the_hf_schema(
    vllm_python, vllm_tiny_lm, tiny_embedder, corpus_file, tmp_path, monkeypatch
):
    monkeypatch.setenv("SELFTRAIN_VLLM_PYTHON", vllm_python)
    data = tiny_config_data(vllm_tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts")
    hf_refs, _ = run_pipeline(build_run_config(data), stop_after="answers")
    cfg = build_run_config({**data, "answers": {**data["answers"], "backend": "vllm"}})
    refs, _ = run_pipeline(cfg, stop_after="answers")

    store = ArtifactStore(cfg.artifact_root)
    assert refs["questions"] == hf_refs["questions"] and refs["answers"].key != hf_refs["answers"].key
    hf_rows, rows = store.read_rows(hf_refs["answers"]), store.read_rows(refs["answers"])
    assert store.read_table(refs["answers"]).schema == answers.SCHEMA == store.read_table(hf_refs["answers"]).schema
    assert [r["question_id"] for r in rows] == [r["question_id"] for r in hf_rows]
    for row in rows:
        assert row["backend"] == "vllm" and row["reference_finish"] in {"stop", "length"}
        assert len(row["reference_logprobs"]) > 0
        for role in ("with_doc", "no_doc"):
            assert len(row[role]) == len(row[f"{role}_logprobs"]) == len(row[f"{role}_finish"]) == 2
    usage = store.manifest("answers", refs["answers"].key)["usage"]
    assert usage["backend"] == "vllm" and usage["requests"] == 3 * len(rows)


def test_questions_and_the_judge_through_vllm(
    vllm_python, vllm_tiny_lm, tiny_embedder, corpus_file, tmp_path, monkeypatch
):
    from selftrain_core.stages.evaluate import stage as evaluate

    monkeypatch.setenv("SELFTRAIN_VLLM_PYTHON", vllm_python)
    data = tiny_config_data(vllm_tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts")
    hf_refs, _ = run_pipeline(build_run_config(data), stop_after="questions")
    cfg = build_run_config({**data, "questions": {**data["questions"], "backend": "vllm"}})
    refs, _ = run_pipeline(cfg, stop_after="questions")
    store = ArtifactStore(cfg.artifact_root)
    assert refs["questions"].key != hf_refs["questions"].key
    manifest = store.manifest("questions", refs["questions"].key)
    assert manifest["usage"]["backend"] == "vllm" and manifest["usage"]["requests"] > 0
    rows = store.read_rows(refs["questions"]) + store.read_rows(refs["questions"], "rejected")
    assert rows and all(r["generator"].startswith("vllm:") for r in rows)

    judged = answer_rows()
    judge = {"backend": "vllm", "max_new_tokens": 4}
    cfg = build_run_config({**data, "evaluate": {**data["evaluate"], "judge": judge}})
    monkeypatch.setenv("SELFTRAIN_CACHE", str(tmp_path / "cache"))
    verdicts, metrics, asked, usage = evaluate.judge_rows(cfg, judged, ["trained"])
    assert len(verdicts) == 2 and asked == 4 and usage["backend"] == "vllm" and usage["requests"] == 4


def test_evaluation_through_vllm_applies_the_trained_adapter_as_a_lora_request(
    vllm_python, vllm_tiny_lm, tiny_embedder, corpus_file, tmp_path, monkeypatch
):
    monkeypatch.setenv("SELFTRAIN_VLLM_PYTHON", vllm_python)
    data = tiny_config_data(vllm_tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts")
    data["evaluate"] = {**data["evaluate"], "backend": "vllm", "judge": {"enabled": False}}
    data["train"] = {**data["train"], "learning_rate": 0.05}  # a tiny model, one epoch: move its answers
    cfg = build_run_config(data)
    refs, _ = run_pipeline(cfg)
    store = ArtifactStore(cfg.artifact_root)
    rows = store.read_rows(refs["evaluate"])
    by_model = {m: [r["answer"] for r in rows if r["model"] == m] for m in ("base", "trained")}
    assert by_model["base"] and len(by_model["base"]) == len(by_model["trained"])
    assert by_model["base"] != by_model["trained"]  # the adapter was applied
    hf = build_run_config({**data, "evaluate": {**data["evaluate"], "backend": "hf"}})
    hf_refs, _ = run_pipeline(hf)
    assert hf_refs["train"] == refs["train"] and hf_refs["evaluate"].key != refs["evaluate"].key
