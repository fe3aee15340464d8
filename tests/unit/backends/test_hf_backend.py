import pytest

from selftrain_core.backends.base import ChatRequest
from selftrain_core.backends.hf import HFBackend
from selftrain_core.models.loading import load_causal_lm, load_tokenizer
from selftrain_core.models.resolve import resolve_model


@pytest.fixture(scope="module")
def backend(tiny_lm):
    model = resolve_model(str(tiny_lm))
    return HFBackend(load_causal_lm(model, device="cpu"), load_tokenizer(model), batch_size=4)


def _requests(seed=7, n=3):
    return [
        ChatRequest(
            request_id=f"r{i}",
            messages=[{"role": "user", "content": text}],
            n=n,
            temperature=1.0,
            max_tokens=6,
            seed=seed + i,
        )
        for i, text in enumerate(["What is the capital of France?", "Who wrote the book?", "Paris"])
    ]


def test_same_requests_and_seeds_give_the_same_samples(backend):
    first = backend.generate(_requests())
    second = backend.generate(_requests())
    assert [[c.text for c in r.completions] for r in first] == [[c.text for c in r.completions] for r in second]
    other = backend.generate(_requests(seed=1000))
    assert [[c.text for c in r.completions] for r in first] != [[c.text for c in r.completions] for r in other]


def test_results_keep_request_order_with_n_samples_and_logprobs(backend):
    results = backend.generate(_requests(n=3))
    assert [r.request_id for r in results] == ["r0", "r1", "r2"]
    for result in results:
        assert len(result.completions) == 3 and result.prompt_tokens > 0
        assert len({tuple(c.token_ids) for c in result.completions}) > 1, "each sample draws from its own stream"
        for completion in result.completions:
            assert completion.finish_reason in {"stop", "length"}
            assert 0 < completion.n_tokens <= 6 or completion.finish_reason == "stop"
            assert all(lp <= 0.0 for lp in completion.token_logprobs)


def test_greedy_ignores_the_seed(backend):
    greedy = [
        ChatRequest(
            request_id="g", messages=[{"role": "user", "content": "Paris"}], temperature=0.0, max_tokens=5, seed=s
        )
        for s in (1, 2)
    ]
    a, b = backend.generate(greedy)
    assert a.completions[0].text == b.completions[0].text


def test_greedy_with_n_samples_repeats_the_greedy_answer(backend):
    (result,) = backend.generate(
        [ChatRequest(request_id="g", messages=[{"role": "user", "content": "Paris"}], n=3, max_tokens=5)]
    )
    assert len(result.completions) == 3 and len({c.text for c in result.completions}) == 1


def test_token_logprobs_are_the_models_own(backend):
    import torch

    request = ChatRequest(
        request_id="x",
        messages=[{"role": "user", "content": "Who wrote the book?"}],
        n=2,
        temperature=1.0,
        top_p=0.9,
        max_tokens=5,
        seed=3,
    )
    (result,) = backend.generate([request])
    prompt = backend._prompt_ids(request)
    for completion in result.completions:
        tokens = completion.token_ids
        assert len(tokens) == completion.n_tokens > 0
        with torch.no_grad():
            logits = backend.model(torch.tensor([prompt + tokens])).logits[0, len(prompt) - 1 : -1]
        expected = logits.log_softmax(-1).gather(-1, torch.tensor(tokens).unsqueeze(-1)).squeeze(-1)
        assert torch.allclose(torch.tensor(completion.token_logprobs), expected, atol=1e-3)


def test_greedy_decoding_matches_transformers_generate(backend):
    import torch

    prompts = ["What is the capital of France?", "Paris", "Who wrote the book? Answer in one sentence please."]
    requests = [
        ChatRequest(request_id=f"g{i}", messages=[{"role": "user", "content": p}], max_tokens=8)
        for i, p in enumerate(prompts)
    ]
    ours = backend.generate(requests)
    for request, result in zip(requests, ours, strict=True):
        ids = torch.tensor([backend._prompt_ids(request)])
        out = backend.model.generate(
            ids,
            max_new_tokens=8,
            do_sample=False,
            eos_token_id=backend.stop_ids,
            pad_token_id=backend.tokenizer.pad_token_id,
        )
        expected = [t for t in out[0, ids.shape[1] :].tolist() if t not in backend.stop_ids]
        assert result.completions[0].token_ids == expected


def test_a_sample_does_not_depend_on_its_batch(backend):
    alone = backend.generate(_requests()[1:2])[0]
    in_batch = backend.generate(_requests())[1]
    assert [c.token_ids for c in alone.completions] == [c.token_ids for c in in_batch.completions]


def test_requests_reading_one_prompt_share_its_prefill_and_keep_their_own_settings(backend):
    """The answers stage's greedy reference and its K samples with the document read the same prompt: it is
    prefilled once for all of them, and each request gets what it would get alone (its own temperature, n and
    max_tokens)."""
    messages = [{"role": "user", "content": "Who wrote the book? Answer in one sentence please."}]
    reference = ChatRequest(request_id="ref", messages=messages, max_tokens=7, seed=1)
    samples = ChatRequest(request_id="k", messages=messages, n=3, temperature=1.0, top_p=0.9, max_tokens=5, seed=2)
    other = ChatRequest(request_id="o", messages=[{"role": "user", "content": "Paris"}], n=2, temperature=0.8)
    prefills = []
    forward = backend.model.forward

    def counting(*args, input_ids, **kwargs):
        if input_ids.shape[1] > 1:
            prefills.append(input_ids.shape[0])
        return forward(*args, input_ids=input_ids, **kwargs)

    backend.model.forward = counting
    try:
        together = backend.generate([reference, samples, other])
    finally:
        del backend.model.forward
    assert sum(prefills) == 2  # two distinct prompts, each prefilled once
    for request, result in zip([reference, samples, other], together, strict=True):
        (alone,) = backend.generate([request])
        assert [c.token_ids for c in result.completions] == [c.token_ids for c in alone.completions]
        assert len(result.completions) == request.n
        assert all(c.n_tokens <= request.max_tokens for c in result.completions)


def test_greedy_requests_of_one_prompt_and_length_decode_one_row(backend, monkeypatch):
    from selftrain_core.backends import hf

    decoded = []
    decode = hf.decode
    monkeypatch.setattr(
        hf, "decode", lambda model, ids, pad, rows, stops: decoded.append(rows) or decode(model, ids, pad, rows, stops)
    )
    messages = [{"role": "user", "content": "Paris"}]
    same = [ChatRequest(request_id=f"g{i}", messages=messages, max_tokens=6) for i in range(3)]
    longer = ChatRequest(request_id="long", messages=messages, max_tokens=9)
    results = backend.generate([*same, longer])
    assert len(decoded) == 1 and len(decoded[0]) == 2  # the three of max 6 tokens share a row; the longer has its own
    assert len({tuple(r.completions[0].token_ids) for r in results[:3]}) == 1
    assert results[3].completions[0].token_ids[:6] == results[0].completions[0].token_ids[:6]


def test_a_request_for_no_tokens_or_no_samples_gets_empty_completions_and_no_row(backend):
    messages = [{"role": "user", "content": "Paris"}]
    nothing = ChatRequest(request_id="none", messages=messages, n=2, temperature=1.0, max_tokens=0, seed=1)
    none = ChatRequest(request_id="zero", messages=[{"role": "user", "content": "Who?"}], n=0, temperature=1.0)
    alone = backend.generate([nothing, none])
    assert [len(r.completions) for r in alone] == [2, 0]
    assert all(c.token_ids == [] and c.finish_reason == "length" for c in alone[0].completions)
    sampled = ChatRequest(request_id="s", messages=messages, n=2, temperature=1.0, max_tokens=4, seed=1)
    mixed = backend.generate([nothing, sampled, none])
    assert [c.token_ids for c in mixed[0].completions] == [[], []]
    assert [c.token_ids for c in mixed[1].completions] == [
        c.token_ids for c in backend.generate([sampled])[0].completions
    ]
