"""transformers backend: a transformers causal LM decoded in length-sorted, left-padded batches.

Decoding (decoding.py) prefills each prompt once for its n samples, drops finished sequences from the batch,
and gives each sample its own generator seeded from (request seed, sample index): the same request and seed give
the same completions whatever else shares the batch. Token logprobs are the model's own (log-softmax of the raw
logits, before temperature and top-p).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from selftrain_core.backends.base import ChatRequest, ChatResult, Completion
from selftrain_core.backends.decoding import decode
from selftrain_core.backends.usage import Usage
from selftrain_core.hashing import derive_seed


class HFBackend:
    name = "hf"

    def __init__(self, model, tokenizer, batch_size: int = 8, progress: Callable[[int], None] | None = None):
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        self.progress = progress
        self.usage = Usage()
        self.stop_ids = sorted(
            {i for i in (tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")) if isinstance(i, int)}
        )

    def close(self) -> None:
        """Drop this backend's reference to the model (its memory goes when no one else holds it)."""
        self.model = None

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
        out = [results[i] for i in range(len(requests))]
        self.usage.add(out)
        return out

    def _run_batch(self, requests, encoded, batch: list[int]) -> dict[int, ChatResult]:
        first = requests[batch[0]]
        width = max(len(encoded[i]) for i in batch)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(encoded[i])) + encoded[i] for i in batch])
        mask = torch.tensor([[0] * (width - len(encoded[i])) + [1] * len(encoded[i]) for i in batch])
        device = self.model.device
        sample = first.temperature > 0
        per_prompt = first.n if sample else 1  # greedy samples are identical: decode one, repeat it
        seeds = [derive_seed(requests[i].seed, s) for i in batch for s in range(per_prompt)]
        sequences = decode(
            self.model,
            ids.to(device),
            mask.to(device),
            per_prompt,
            first.max_tokens,
            first.temperature,
            first.top_p,
            seeds,
            self.stop_ids,
        )
        results = {}
        for b, i in enumerate(batch):
            completions = []
            for s in range(first.n):
                seq = sequences[b * per_prompt + (s if sample else 0)]
                text = self.tokenizer.decode(seq.tokens, skip_special_tokens=True).strip()
                logprobs = [round(v, 5) for v in seq.logprobs]
                completions.append(Completion(text, logprobs, seq.finish_reason, list(seq.tokens)))
            generated = sum(c.n_tokens for c in completions)
            results[i] = ChatResult(requests[i].request_id, completions, len(encoded[i]), generated)
        if self.progress is not None:
            self.progress(len(batch))
        return results

    @torch.inference_mode()
    def option_logprobs(self, prompts: Sequence[list[dict[str, str]]], options: Sequence[str]) -> list[list[float]]:
        """For each chat prompt, the log-probability that the reply starts with each option (e.g. Yes / No).

        An option's probability sums its first-token variants ("Yes", " Yes", "yes", " yes"). One forward pass
        per batch of prompts; no sampling.
        """
        variants = []
        for option in options:
            ids = set()
            for form in {option, option.lower(), option.capitalize()}:
                for text in (form, " " + form):
                    ids.add(self.tokenizer.encode(text, add_special_tokens=False)[0])
            variants.append(sorted(ids))
        encoded = [self._prompt_ids(ChatRequest(request_id="", messages=list(p))) for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
        out: list[list[float]] = [[] for _ in prompts]
        pad = self.tokenizer.pad_token_id
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            width = max(len(encoded[i]) for i in batch)
            ids = torch.tensor([[pad] * (width - len(encoded[i])) + encoded[i] for i in batch])
            mask = torch.tensor([[0] * (width - len(encoded[i])) + [1] * len(encoded[i]) for i in batch])
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            device = self.model.device
            logits = self.model(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                position_ids=positions.to(device),
                logits_to_keep=1,
            ).logits[:, -1]
            logprobs = logits.float().log_softmax(-1).cpu()
            for b, i in enumerate(batch):
                out[i] = [float(torch.logsumexp(logprobs[b, v], 0)) for v in variants]
        return out
