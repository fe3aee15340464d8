"""transformers backend: a transformers causal LM decoded in length-sorted, left-padded batches.

Decoding (decoding.py) prefills each prompt once for all the requests that read it and their n samples, drops
finished sequences from the batch, and gives each sample its own random stream seeded from (request seed, sample
index): the same request and seed give the same completions whatever else shares the batch. `batch_size` counts
prompts decoded together. Token logprobs are the model's own (log-softmax of the raw logits, before temperature
and top-p).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from selftrain_core.backends.base import ChatRequest, ChatResult, Completion
from selftrain_core.backends.decoding import Row, decode
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
        # Requests with the same prompt share its prefill; prompts sorted by length so padding stays small.
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, ids in enumerate(encoded):
            groups.setdefault(tuple(ids), []).append(i)
        order = sorted(groups.values(), key=lambda members: (len(encoded[members[0]]), members[0]))
        results: dict[int, ChatResult] = {}
        for start in range(0, len(order), self.batch_size):
            results.update(self._run_batch(requests, encoded, order[start : start + self.batch_size]))
        out = [results[i] for i in range(len(requests))]
        self.usage.add(out)
        return out

    def _run_batch(self, requests, encoded, prompts: list[list[int]]) -> dict[int, ChatResult]:
        """Decode a batch of prompts, each with the requests that read it: a sampled request is n rows, each with
        its seed from (request seed, sample index); greedy requests of one prompt and max_tokens share one row,
        repeated n times in each result. A request for no tokens or no samples gets empty completions, no row."""
        rows: list[Row] = []
        first_row: dict[int, int] = {}
        greedy_row: dict[tuple[int, int], int] = {}
        live: list[list[int]] = []  # the prompts with a row, in the order decode sees them
        for members in prompts:
            p, before = len(live), len(rows)
            for i in members:
                r = requests[i]
                if r.n <= 0 or r.max_tokens <= 0:
                    continue
                if r.temperature <= 0:
                    first_row[i] = greedy_row.setdefault((p, r.max_tokens), len(rows))
                    if first_row[i] == len(rows):
                        rows.append(Row(p, r.max_tokens))
                else:
                    first_row[i] = len(rows)
                    rows += [Row(p, r.max_tokens, r.temperature, r.top_p, derive_seed(r.seed, s)) for s in range(r.n)]
            if len(rows) > before:
                live.append(encoded[members[0]])
        sequences = decode(self.model, live, self.tokenizer.pad_token_id, rows, self.stop_ids) if rows else []
        results = {}
        for members in prompts:
            for i in members:
                r = requests[i]
                completions = []
                for s in range(r.n):
                    if i not in first_row:
                        completions.append(Completion("", [], "length", []))
                        continue
                    seq = sequences[first_row[i] + (s if r.temperature > 0 else 0)]
                    text = self.tokenizer.decode(seq.tokens, skip_special_tokens=True).strip()
                    logprobs = [round(v, 5) for v in seq.logprobs]
                    completions.append(Completion(text, logprobs, seq.finish_reason, list(seq.tokens)))
                generated = sum(c.n_tokens for c in completions)
                results[i] = ChatResult(r.request_id, completions, len(encoded[i]), generated)
        if self.progress is not None:
            self.progress(len(results))
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
