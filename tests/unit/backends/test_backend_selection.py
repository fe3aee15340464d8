"""Per-stage backend selection: config checks, and what enters artifact keys and manifests."""

import pytest
from pydantic import ValidationError

from selftrain_core.backends.config import OpenAIServerConfig
from selftrain_core.config.base import result_settings
from selftrain_core.config.loading import build_run_config
from selftrain_core.errors import ConfigError
from selftrain_core.stages.answers import stage as answers
from selftrain_core.stages.evaluate import stage as evaluate
from selftrain_core.stages.questions import stage as questions
from selftrain_core.store import ArtifactRef
from tests.conftest import tiny_config_data
from tests.judge_rows import answer_rows

QUESTIONS, CHUNKS = (
    ArtifactRef(stage="questions", key="q" * 20, uri="x"),
    ArtifactRef(stage="chunk", key="c" * 20, uri="y"),
)
SERVER = {"base_url": "http://gpu-1:8000/v1", "model": "HuggingFaceTB/SmolLM2-135M-Instruct"}


@pytest.fixture
def data(tiny_lm, tiny_embedder, corpus_file, tmp_path):
    return tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts")


def _with(data, section, **values):
    out = {**data, section: {**data[section], **values}}
    return build_run_config(out)


def test_openai_needs_a_server_and_hf_refuses_one(data):
    with pytest.raises(ConfigError, match="answers.server"):
        _with(data, "answers", backend="openai")
    with pytest.raises(ConfigError, match="answers.backend is 'hf'"):
        _with(data, "answers", server=SERVER)
    with pytest.raises(ConfigError, match="questions.server.model"):
        _with(data, "questions", backend="openai", server=SERVER, model=data["model"]["name"])
    judge = {**data["evaluate"], "judge": {"backend": "openai"}}
    with pytest.raises(ConfigError, match="evaluate.judge.server"):
        build_run_config({**data, "evaluate": judge})
    with pytest.raises(ValidationError, match="not an http"):
        OpenAIServerConfig(base_url="gpu-1:8000", model="m")


def test_hf_settings_carry_no_server_fields():
    """Artifacts written before the openai backend existed keep their keys."""
    from selftrain_core.stages.answers.config import AnswersConfig
    from selftrain_core.stages.questions.config import QuestionsConfig

    for section in (AnswersConfig(), QuestionsConfig()):
        assert "server" not in result_settings(section) and "vllm" not in result_settings(section)


def test_vllm_engine_sizing_stays_out_of_keys_and_the_backend_does_not(data):
    hf = answers.plan(build_run_config(data), QUESTIONS, CHUNKS)
    vllm = answers.plan(_with(data, "answers", backend="vllm"), QUESTIONS, CHUNKS)
    sized = _with(data, "answers", backend="vllm", vllm={"max_model_len": 512, "gpu_memory_utilization": 0.5})
    assert sized.answers.vllm.max_model_len == 512
    assert answers.plan(sized, QUESTIONS, CHUNKS).key == vllm.key != hf.key
    base_q = questions.plan(build_run_config(data), CHUNKS)
    vllm_q = questions.plan(_with(data, "questions", backend="vllm", vllm={"cpu_kv_cache_gb": 4}), CHUNKS)
    assert vllm_q.key != base_q.key and vllm_q.models == base_q.models
    with pytest.raises(ConfigError, match="questions.backend is 'vllm'"):
        _with(data, "questions", backend="vllm", server=SERVER)
    with pytest.raises(ConfigError, match="max_model_len"):
        _with(data, "answers", vllm={"max_model_len": 0})
    judge = {**data["evaluate"], "judge": {"backend": "vllm", "vllm": {"max_num_seqs": 4}}}
    assert build_run_config({**data, "evaluate": judge}).evaluate.judge.vllm.max_num_seqs == 4


def test_switching_backend_changes_the_key_and_the_port_and_key_do_not(data):
    hf = answers.plan(build_run_config(data), QUESTIONS, CHUNKS)
    served = answers.plan(_with(data, "answers", backend="openai", server=SERVER), QUESTIONS, CHUNKS)
    other_port = {**SERVER, "base_url": "http://gpu-1:9000/v1", "api_key_env": "OTHER", "max_concurrency": 2}
    moved = answers.plan(_with(data, "answers", backend="openai", server=other_port), QUESTIONS, CHUNKS)
    other_model = answers.plan(
        _with(data, "answers", backend="openai", server={**SERVER, "model": "m"}), QUESTIONS, CHUNKS
    )
    other_host = answers.plan(
        _with(data, "answers", backend="openai", server={**SERVER, "base_url": "http://gpu-2:8000/v1"}),
        QUESTIONS,
        CHUNKS,
    )
    fan_out = answers.plan(
        _with(data, "answers", backend="openai", server={**SERVER, "supports_n": False}), QUESTIONS, CHUNKS
    )
    assert len({hf.key, served.key, other_model.key, other_host.key, fan_out.key}) == 5
    assert moved.key == served.key
    assert served.models == [
        {
            "role": "policy",
            "name": SERVER["model"],
            "fingerprint": f"openai:gpu-1/{SERVER['model']}",
            "source": "openai-server",
            "server": "http://gpu-1:8000/v1",
            "hub_id": None,
        }
    ]
    assert served.runtime["server"] == "http://gpu-1:8000/v1" and served.settings["answers"]["backend"] == "openai"


def test_questions_and_judge_may_use_another_model(data, tiny_lm):
    base = questions.plan(build_run_config(data), CHUNKS)
    served = questions.plan(_with(data, "questions", backend="openai", server=SERVER), CHUNKS)
    assert base.key != served.key and served.models[0]["role"] == "generator"
    assert served.models[0]["fingerprint"].startswith("openai:gpu-1/")
    judge = {**data["evaluate"], "judge": {"backend": "openai", "server": {**SERVER, "model": "judge-70b"}}}
    cfg = build_run_config({**data, "evaluate": judge})
    assert evaluate.judge_model(cfg).manifest_entry("judge")["fingerprint"] == "openai:gpu-1/judge-70b"


def test_served_answers_cannot_apply_a_local_adapter(data, tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    cfg = _with(data, "answers", backend="openai", server=SERVER)
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"adapter": str(adapter)})})
    with pytest.raises(ConfigError, match="cannot apply model.adapter"):
        answers.plan(cfg, QUESTIONS, CHUNKS)


def test_judge_through_a_server_records_its_usage(data):
    from tests.openai_server import FakeEngine, ThreadedServer, create_app

    rows = answer_rows()
    with ThreadedServer(create_app(FakeEngine(), "judge")) as server:
        judge = {"backend": "openai", "server": {"base_url": server.url, "model": "judge"}}
        cfg = build_run_config({**data, "evaluate": {**data["evaluate"], "judge": judge}})
        verdicts, metrics, asked, usage = evaluate.judge_rows(cfg, rows, ["trained"])
    assert len(verdicts) == 2 and asked == 4 and metrics
    assert usage["backend"] == "openai" and usage["model"] == "judge" and usage["requests"] == 4


def test_the_evaluation_backend_is_keyed_and_its_engine_sizing_is_not():
    from selftrain_core.stages.evaluate.config import EvaluateConfig

    hf, vllm = EvaluateConfig(), EvaluateConfig(backend="vllm", vllm={"max_model_len": 256})
    assert result_settings(hf)["backend"] == "hf" and result_settings(vllm)["backend"] == "vllm"
    assert "vllm" not in result_settings(vllm)
    with pytest.raises(ValidationError, match="backend"):
        EvaluateConfig(backend="openai")
