"""transformers backend: batched `generate` with left padding, length-sorted batches and num_return_sequences.

Token logprobs are the model's own (log-softmax of the raw logits, before temperature and top-p), recorded for
the sampled tokens by NucleusSampler, which also applies temperature and top-p. Each generate call is seeded
from the seeds of the requests in it; batches are formed deterministically from the request list, so the same
requests give the same completions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from transformers import LogitsProcessorList

from selftrain_core.backends.base import ChatRequest, ChatResult, Completion
from selftrain_core.backends.sampling import NucleusSampler
from selftrain_core.hashing import derive_seed


class HFBackend:
    name = "hf"

    def __init__(self, model, tokenizer, batch_size: int = 8, progress: Callable[[int], None] | None = None):
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        self.progress = progress
        self.stop_ids = sorted(
            {i for i in (tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")) if isinstance(i, int)}
        )

    def _prompt_ids(self, request: ChatRequest) -> list[int]:
        return self.tokenizer.apply_chat_template(
            request.messages, add_generation_prompt=True, tokenize=True, return_dict=True
        )["input_ids"]

    def generate(self, requests: Sequence[ChatRequest]) -> list[ChatResult]:
        encoded = [self._prompt_ids(r) for r in requests]
        # Group by sampling parameters, then sort by prompt length so padding stays small.
        order = sorted(range(len(requests)), key=lambda i: (requests[i].sampling_key(), len(encoded[i]), i))
        results: dict[int, ChatResult] = {}
        batch: list[int] = []
        for i in order:
            if batch and (
                len(batch) == self.batch_size or requests[batch[0]].sampling_key() != requests[i].sampling_key()
            ):
                results.update(self._run_batch(requests, encoded, batch))
                batch = []
            batch.append(i)
        if batch:
            results.update(self._run_batch(requests, encoded, batch))
        return [results[i] for i in range(len(requests))]

    @torch.inference_mode()
    def _run_batch(self, requests, encoded, batch: list[int]) -> dict[int, ChatResult]:
        first = requests[batch[0]]
        width = max(len(encoded[i]) for i in batch)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(encoded[i])) + encoded[i] for i in batch])
        mask = torch.tensor([[0] * (width - len(encoded[i])) + [1] * len(encoded[i]) for i in batch])
        device = self.model.device
        sample = first.temperature > 0
        per_prompt = first.n if sample else 1  # greedy samples are identical: generate one, repeat it
        # Temperature and top-p are applied by NucleusSampler, which also records each token's logprob.
        sampler = NucleusSampler(first.temperature if sample else 0.0, first.top_p)
        if sample:
            torch.manual_seed(derive_seed(*(requests[i].seed for i in batch)))
        out = self.model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            max_new_tokens=first.max_tokens,
            num_return_sequences=per_prompt,
            eos_token_id=self.stop_ids,
            pad_token_id=pad,
            do_sample=sample,
            temperature=1.0,
            top_p=1.0,
            top_k=0,
            logits_processor=LogitsProcessorList([sampler]),
        )
        new_tokens = out[:, width:]
        chosen = sampler.token_logprobs(new_tokens[:, -1])
        results = {}
        for b, i in enumerate(batch):
            completions = []
            for s in range(first.n):
                row = b * per_prompt + (s if sample else 0)
                tokens = new_tokens[row].tolist()
                length = len(tokens)
                finish = "length"
                for t, token in enumerate(tokens):
                    if token in self.stop_ids:
                        length, finish = t, "stop"
                        break
                text = self.tokenizer.decode(tokens[:length], skip_special_tokens=True).strip()
                logprobs = [round(v, 5) for v in chosen[row, :length].tolist()]
                completions.append(Completion(text, logprobs, finish, tokens[:length]))
            results[i] = ChatResult(requests[i].request_id, completions, len(encoded[i]))
        if self.progress is not None:
            self.progress(len(batch))
        return results
