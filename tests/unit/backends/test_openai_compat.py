"""The openai backend against a real HTTP server on 127.0.0.1 (tests/openai_server.py, fake engine, in a thread)."""

import logging

import pytest

from selftrain_core.backends.base import ChatRequest
from selftrain_core.backends.config import OpenAIServerConfig
from selftrain_core.backends.errors import (
    EmptyResponseError,
    PromptTooLongError,
    RequestRejectedError,
    ServedModelNotFoundError,
    ServerAuthError,
    ServerError,
    ServerUnavailableError,
)
from selftrain_core.backends.loading import open_backend
from selftrain_core.backends.openai_compat import OpenAICompatBackend
from selftrain_core.backends.served import redact_url, served_model
from selftrain_core.backends.settings import GenerationSettings
from selftrain_core.backends.usage import usage_entry
from selftrain_core.errors import SelftrainError
from selftrain_core.hashing import derive_seed
from tests.openai_server import FakeEngine, ThreadedServer, create_app, free_port

KEY = "sk-test-0123456789abcdef"


@pytest.fixture(scope="module")
def server():
    app = create_app(FakeEngine(), "tiny")
    with ThreadedServer(app) as running:
        yield running


@pytest.fixture(autouse=True)
def _clear_faults(server):
    server.app.state.faults.update(fail_429=0, fail_500=0, slow=0, no_choices=False, no_n=False, max_model_len=None)
    server.app.state.calls.clear()


def _backend(url, **settings) -> OpenAICompatBackend:
    cfg = OpenAIServerConfig(base_url=url, model=settings.pop("model", "tiny"), retry_backoff_s=0.01, **settings)
    return OpenAICompatBackend(cfg)


def _served(server: OpenAIServerConfig) -> GenerationSettings:
    return GenerationSettings(section="answers", backend="openai", server=server)


def _requests(n=3, temperature=1.0, max_tokens=3):
    return [
        ChatRequest(
            request_id=f"r{i}",
            messages=[{"role": "user", "content": f"question {i}"}],
            n=n,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=10 + i,
        )
        for i in range(4)
    ]


def _texts(results):
    return [[c.text for c in r.completions] for r in results]


def test_n_samples_in_one_request_keep_order_and_repeat_with_the_seed(server):
    backend = _backend(server.url, max_concurrency=3)
    first = backend.generate(_requests())
    assert [r.request_id for r in first] == ["r0", "r1", "r2", "r3"]
    assert sorted(server.app.state.calls) == [(3, 10), (3, 11), (3, 12), (3, 13)]  # one call each, seed passed
    assert first == backend.generate(_requests())
    for result in first:
        assert len(result.completions) == 3 and len(set(c.text for c in result.completions)) == 3
        assert all(c.token_logprobs == [-0.25] * 3 and c.finish_reason == "length" for c in result.completions)
    assert backend.usage.requests == 8 and backend.usage.completion_tokens > 0 and backend.usage.prompt_tokens > 0


def test_fan_out_asks_k_requests_seeded_by_sample_index(server):
    backend = _backend(server.url, supports_n=False)
    (result,) = backend.generate(_requests()[:1])
    assert sorted(server.app.state.calls) == sorted((1, derive_seed(10, s)) for s in range(3))
    assert len(result.completions) == 3 and result == backend.generate(_requests()[:1])[0]


def test_greedy_asks_once_and_repeats(server):
    (result,) = _backend(server.url).generate(_requests(n=3, temperature=0.0)[:1])
    assert server.app.state.calls == [(1, 10)] and len({c.text for c in result.completions}) == 1
    assert len(result.completions) == 3


def test_finish_reason_stop_when_under_max_tokens(server):
    (result,) = _backend(server.url).generate(_requests(n=1, max_tokens=20)[:1])
    assert result.completions[0].finish_reason == "stop"


@pytest.mark.parametrize("fault", ["fail_429", "fail_500"])
def test_retries_on_429_and_5xx_then_succeed(server, fault):
    server.app.state.faults[fault] = 2
    backend = _backend(server.url, max_retries=3)
    assert len(backend.generate(_requests()[:1])[0].completions) == 3
    assert backend.usage.retries == 2


def test_retries_after_a_timeout(server):
    server.app.state.faults["slow"] = 1
    backend = _backend(server.url, timeout_s=0.3, max_retries=5)
    assert len(backend.generate(_requests()[:1])[0].completions) == 3
    assert backend.usage.retries >= 1


def test_retries_exhausted_is_transient_not_a_user_error(server):
    server.app.state.faults["fail_500"] = 10
    with pytest.raises(ServerUnavailableError, match="failed 3 times") as caught:
        _backend(server.url, max_retries=2).generate(_requests()[:1])
    assert not isinstance(caught.value, SelftrainError)


def test_unreachable_server_names_the_url():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ServerUnavailableError, match=r"127\.0\.0\.1.*Is the server up"):
        open_backend(_served(OpenAIServerConfig(base_url=url, model="tiny", max_retries=1)))


def test_unknown_model_is_caught_before_any_work_with_a_suggestion(server):
    cfg = OpenAIServerConfig(base_url=server.url, model="tinny")
    with pytest.raises(ServedModelNotFoundError, match="does not serve model 'tinny'.*Did you mean 'tiny'"):
        open_backend(_served(cfg))
    with pytest.raises(ServedModelNotFoundError):  # and when a request names it anyway (404)
        _backend(server.url, model="tinny").generate(_requests()[:1])


def test_no_choices_and_context_too_long_and_refused_n_are_user_errors(server):
    faults = server.app.state.faults
    faults["no_choices"] = True
    with pytest.raises(EmptyResponseError, match="returned 0 choices for request r0"):
        _backend(server.url).generate(_requests()[:1])
    faults.update(no_choices=False, max_model_len=5)
    with pytest.raises(PromptTooLongError, match="request r0.*context window.*maximum context length is 5"):
        _backend(server.url).generate(_requests(n=1)[:1])
    faults.update(max_model_len=None, no_n=True)
    with pytest.raises(RequestRejectedError, match="supports_n: false"):
        _backend(server.url).generate(_requests()[:1])
    assert len(_backend(server.url, supports_n=False).generate(_requests()[:1])[0].completions) == 3


def test_401_names_the_variable_and_never_shows_the_key(monkeypatch, caplog):
    app = create_app(FakeEngine(), "tiny", {"api_key": KEY})
    caplog.set_level(logging.DEBUG)
    with ThreadedServer(app) as locked:
        monkeypatch.delenv("SELFTRAIN_TEST_KEY", raising=False)
        cfg = OpenAIServerConfig(base_url=locked.url, model="tiny", api_key_env="SELFTRAIN_TEST_KEY")
        with pytest.raises(ServerAuthError, match="SELFTRAIN_TEST_KEY is not set"):
            open_backend(_served(cfg))
        monkeypatch.setenv("SELFTRAIN_TEST_KEY", "sk-wrong-key-123456")
        wrong = "check the key in the environment variable SELFTRAIN_TEST_KEY"
        with pytest.raises(ServerAuthError, match=wrong) as caught:
            open_backend(_served(cfg))
        assert "sk-wrong-key-123456" not in str(caught.value)
        monkeypatch.setenv("SELFTRAIN_TEST_KEY", KEY)
        assert open_backend(_served(cfg)).generate(_requests()[:1])[0].completions
    assert KEY not in caplog.text and "sk-wrong-key" not in caplog.text


def test_errors_are_user_errors_except_unavailability():
    for kind in (ServerAuthError, ServedModelNotFoundError, PromptTooLongError, EmptyResponseError):
        assert issubclass(kind, ServerError) and issubclass(kind, SelftrainError)
    assert not issubclass(ServerUnavailableError, SelftrainError)


def test_manifest_url_loses_userinfo_and_query_and_the_key_keeps_only_host_and_model():
    assert (
        redact_url("https://user:sk-secret@api.example.com:8443/v1?key=sk-x#frag") == "https://api.example.com:8443/v1"
    )
    a = served_model(OpenAIServerConfig(base_url="http://gpu-1:8000/v1", model="m"))
    b = served_model(OpenAIServerConfig(base_url="http://gpu-1:9000/other/v1", model="m"))
    assert a.fingerprint == b.fingerprint == "openai:gpu-1/m"
    assert served_model(OpenAIServerConfig(base_url="http://gpu-2:8000/v1", model="m")).fingerprint != a.fingerprint


def test_usage_entry_prices_tokens(server):
    backend = _backend(server.url, cost_per_1k_prompt_tokens=0.5, cost_per_1k_completion_tokens=2.0)
    backend.generate(_requests())
    entry = usage_entry("openai", "tiny", backend.usage, backend.server)
    u = backend.usage
    assert entry["cost"] == pytest.approx(u.prompt_tokens / 1000 * 0.5 + u.completion_tokens / 1000 * 2.0)
    assert entry["http_requests"] == 4 and entry["retries"] == 0
    assert usage_entry("openai", "tiny", u, OpenAIServerConfig(model="tiny"))["cost"] is None
