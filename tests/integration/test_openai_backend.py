"""The openai backend in the stages, against a real OpenAI-compatible server process on 127.0.0.1
(tests/openai_server.py serving the tiny model through selftrain's HFBackend): the same answers schema as hf,
retries, each user error with no artifact left, secrets nowhere, and a server SIGKILLed mid-stage, restarted, and
the stage resumed with nothing lost or duplicated."""

import logging
import shutil
from dataclasses import replace
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from selftrain_core.backends.base import ChatRequest
from selftrain_core.backends.config import OpenAIServerConfig
from selftrain_core.backends.errors import (
    EmptyResponseError,
    PromptTooLongError,
    ServedModelNotFoundError,
    ServerAuthError,
    ServerUnavailableError,
)
from selftrain_core.backends.loading import open_backend
from selftrain_core.backends.settings import GenerationSettings
from selftrain_core.config.loading import build_run_config
from selftrain_core.stages.answers import stage as answers
from selftrain_core.stages.base import RunInfo
from selftrain_core.stages.questions import stage as questions
from selftrain_core.store import ArtifactStore
from tests.conftest import tiny_config_data
from tests.openai_server import free_port, start_process
from tests.pipeline import run_pipeline

pytestmark = pytest.mark.integration
KEY = "sk-selftrain-test-3f9a1c77e2d54b08"
KEY_ENV = "SELFTRAIN_TEST_OPENAI_KEY"


@pytest.fixture(scope="module")
def upstream(tiny_lm, tiny_embedder, corpus_file, tmp_path_factory) -> Path:
    """ingest -> chunk -> questions with the hf backend, once; tests copy this root."""
    root = tmp_path_factory.mktemp("upstream") / "artifacts"
    run_pipeline(build_run_config(tiny_config_data(tiny_lm, tiny_embedder, corpus_file, root)), "questions")
    return root


@pytest.fixture(scope="module")
def server(tiny_lm):
    port = free_port()
    proc = start_process(port, model=str(tiny_lm), api_key=KEY)
    yield port
    proc.kill()
    proc.wait()


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)


def _faults(port: int, **faults) -> None:
    httpx.post(f"http://127.0.0.1:{port}/admin/faults", json=faults).raise_for_status()


def _config(tiny_lm, tiny_embedder, corpus_file, root: Path, port: int | None, **server):
    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, root)
    data["model"]["dtype"] = "float32"  # what tests/openai_server.py loads: hf compares with it in the same dtype
    if port is not None:
        settings = {"base_url": f"http://127.0.0.1:{port}/v1", "model": "tiny", "api_key_env": KEY_ENV}
        settings.update({"max_retries": 2, "retry_backoff_s": 0.05, "max_concurrency": 4, **server})
        data["answers"].update(backend="openai", server=settings)
    return build_run_config(data)


def _run_answers(cfg, upstream: Path, lines: list[str] | None = None):
    """Copy the upstream root (if not there yet) and run the answers stage: (store, plan)."""
    root = Path(cfg.artifact_root)
    if not root.exists():
        shutil.copytree(upstream, root)
    store = ArtifactStore(str(root))
    plan = answers.plan(
        cfg, store.ref("questions", _key_of(upstream, "questions")), store.ref("chunk", _key_of(upstream, "chunk"))
    )
    answers.run(cfg, plan, store, RunInfo(run_id="test"), log=(lines if lines is not None else []).append)
    return store, plan


def _key_of(root: Path, stage: str) -> str:
    (folder,) = [p for p in (root / stage).iterdir() if (p / "manifest.json").exists()]
    return folder.name


def _table(store: ArtifactStore, plan) -> pa.Table:
    table = store.read_table(store.ref("answers", plan.key))
    return table.sort_by("question_id")


def test_answers_via_openai_have_the_hf_schema_and_record_backend_usage_and_no_secret(
    tiny_lm, tiny_embedder, corpus_file, upstream, server, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    hf_store, hf_plan = _run_answers(_config(tiny_lm, tiny_embedder, corpus_file, tmp_path / "hf", None), upstream)
    lines: list[str] = []
    cfg = _config(tiny_lm, tiny_embedder, corpus_file, tmp_path / "openai", server)
    store, plan = _run_answers(cfg, upstream, lines)
    assert plan.key != hf_plan.key
    hf_rows, rows = _table(hf_store, hf_plan), _table(store, plan)
    assert rows.schema == hf_rows.schema == answers.SCHEMA
    assert rows["question_id"].to_pylist() == hf_rows["question_id"].to_pylist()
    assert set(rows["backend"].to_pylist()) == {"openai"} and set(rows["model"].to_pylist()) == {"tiny"}
    # the server samples with the same HFBackend, seeds and sample indices: the same texts come back
    for column in ("reference", "with_doc", "no_doc", "with_doc_finish"):
        assert rows[column].to_pylist() == hf_rows[column].to_pylist()
    # one logprob list per sample; a sample that stops at once (possible with other float rounding) has none
    logprobs = rows["no_doc_logprobs"].to_pylist()
    assert all(len(lp) == 2 for lp in logprobs) and sum(len(x) > 0 for lp in logprobs for x in lp) > len(logprobs)
    manifest = store.manifest("answers", plan.key)
    usage = manifest["usage"]
    assert usage["backend"] == "openai" and usage["model"] == "tiny" and usage["requests"] == 3 * rows.num_rows
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0 and usage["http_requests"] >= 2 * rows.num_rows
    assert manifest["models"][0]["fingerprint"] == "openai:127.0.0.1/tiny"
    assert manifest["runtime_config"]["api_key_env"] == KEY_ENV
    assert hf_store.manifest("answers", hf_plan.key)["usage"]["backend"] == "hf"
    for path in Path(cfg.artifact_root).rglob("*"):
        assert not path.is_file() or KEY.encode() not in path.read_bytes(), path
    assert KEY not in "\n".join(lines) and KEY not in caplog.text


def test_questions_stage_via_openai_records_the_generator(
    tiny_lm, tiny_embedder, corpus_file, upstream, server, tmp_path
):
    data = tiny_config_data(tiny_lm, tiny_embedder, corpus_file, tmp_path / "artifacts")
    server_cfg = {"base_url": f"http://127.0.0.1:{server}/v1", "model": "tiny", "api_key_env": KEY_ENV}
    data["questions"].update(backend="openai", server=server_cfg)
    cfg = build_run_config(data)
    shutil.copytree(upstream, tmp_path / "artifacts")
    store = ArtifactStore(cfg.artifact_root)
    plan = questions.plan(cfg, store.ref("chunk", _key_of(upstream, "chunk")))
    questions.run(cfg, plan, store, RunInfo(run_id="test"), log=lambda _: None)
    rows = store.read_rows(store.ref("questions", plan.key))
    assert rows and {r["generator"] for r in rows} == {"openai:tiny"}
    manifest = store.manifest("questions", plan.key)
    assert manifest["usage"]["backend"] == "openai" and manifest["models"][0]["source"] == "openai-server"


def test_same_request_and_seed_give_the_same_samples(server):
    cfg = OpenAIServerConfig(base_url=f"http://127.0.0.1:{server}/v1", model="tiny", api_key_env=KEY_ENV)
    backend = open_backend(GenerationSettings(section="answers", backend="openai", server=cfg))
    request = [
        ChatRequest(
            request_id="q",
            messages=[{"role": "user", "content": "Paris?"}],
            n=3,
            temperature=1.0,
            top_p=0.9,
            max_tokens=6,
            seed=1234,
        )
    ]
    first, second = backend.generate(request), backend.generate(request)
    assert first == second and len({c.text for c in first[0].completions}) > 1
    other = backend.generate([replace(request[0], seed=99)])
    assert [c.text for c in other[0].completions] != [c.text for c in first[0].completions]


def test_stage_retries_through_429_and_500(tiny_lm, tiny_embedder, corpus_file, upstream, server, tmp_path):
    _faults(server, fail_429=2, fail_500=2)
    cfg = _config(tiny_lm, tiny_embedder, corpus_file, tmp_path / "a", server, max_retries=3)
    store, plan = _run_answers(cfg, upstream)
    assert store.manifest("answers", plan.key)["usage"]["retries"] == 4


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("unreachable", ServerUnavailableError, "failed 3 times.*Is the server up"),
        ("no key", ServerAuthError, f"{KEY_ENV} is not set"),
        ("unknown model", ServedModelNotFoundError, "does not serve model 'tinny'.*Did you mean 'tiny'"),
        ("no choices", EmptyResponseError, "returned 0 choices"),
        ("context too long", PromptTooLongError, "context window.*maximum context length is 24"),
    ],
)
def test_user_errors_are_clear_and_leave_no_artifact(
    case, error, message, tiny_lm, tiny_embedder, corpus_file, upstream, server, tmp_path, monkeypatch
):
    port, model = server, "tiny"
    if case == "unreachable":
        port = free_port()
    elif case == "no key":
        monkeypatch.delenv(KEY_ENV)
    elif case == "unknown model":
        model = "tinny"
    elif case == "no choices":
        _faults(server, no_choices=True)
    else:
        _faults(server, max_model_len=24)
    cfg = _config(tiny_lm, tiny_embedder, corpus_file, tmp_path / "a", port, model=model)
    try:
        with pytest.raises(error, match=message) as caught:
            _run_answers(cfg, upstream)
    finally:
        _faults(server)
    assert KEY not in str(caught.value)
    assert not (Path(cfg.artifact_root) / "answers").exists() or not any(
        (Path(cfg.artifact_root) / "answers").iterdir()
    )


def test_server_killed_mid_stage_then_restarted_resumes_with_nothing_lost_or_duplicated(
    tiny_lm, tiny_embedder, corpus_file, upstream, server, tmp_path
):
    # 2 questions per shard = 6 requests: the server serves 8 (one shard and a third), then SIGKILLs itself
    port = free_port()
    dying = start_process(port, model=str(tiny_lm), api_key=KEY, die_after=8)
    cfg = _config(tiny_lm, tiny_embedder, corpus_file, tmp_path / "killed", port)
    try:
        with pytest.raises(ServerUnavailableError):
            _run_answers(cfg, upstream)
        assert dying.wait(10) == -9
    finally:
        dying.kill()
    plan = answers.plan(
        cfg, *(ArtifactStore(cfg.artifact_root).ref(s, _key_of(upstream, s)) for s in ("questions", "chunk"))
    )
    folder = Path(cfg.artifact_root) / "answers" / plan.key
    done = sorted(folder.glob("_progress/data-*.json"))
    shards = sorted(folder.glob("data-*.parquet"))
    assert len(done) == len(shards) == 1 and not (folder / "manifest.json").exists()

    # restarted (on another port: the key holds the host and model, not the port) and resumed
    resumed_cfg = _config(tiny_lm, tiny_embedder, corpus_file, tmp_path / "killed", server)
    lines: list[str] = []
    store, resumed = _run_answers(resumed_cfg, upstream, lines)
    assert resumed.key == plan.key and any("resuming, 1 of" in line for line in lines)
    manifest = store.manifest("answers", plan.key)
    assert manifest["resumed_shards"] == 1 and manifest["shards"] > 2
    rows = _table(store, resumed)
    question_ids = {r["question_id"] for r in store.read_rows(store.ref("questions", _key_of(upstream, "questions")))}
    assert len(set(rows["answer_id"].to_pylist())) == rows.num_rows == len(question_ids)
    assert set(rows["question_id"].to_pylist()) == question_ids

    clean_store, clean = _run_answers(
        _config(tiny_lm, tiny_embedder, corpus_file, tmp_path / "clean", server), upstream
    )
    assert clean.key == plan.key and _table(clean_store, clean).equals(rows)
