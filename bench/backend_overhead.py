"""What the answers stage costs over the bare backend call, and what n=K saves over K requests.

    OMP_NUM_THREADS=1 .venv/bin/python bench/backend_overhead.py [--questions 6] [--k 3] [--tokens 32] [--dtype auto]

On the offline default model (SmolLM2-135M, CPU), in one process and on the same prompts:
- hf: the answers stage (reads questions, builds requests, loads the model, generates, writes shards and the
  manifest) against `HFBackend.generate` on the same requests with the model already loaded. The stage's model
  load is shown apart; `stage / raw` is the framework's overhead (target < 1.05).
- openai: the test server (tests/openai_server.py: selftrain's HFBackend on the same model behind
  /v1/chat/completions, one request at a time) answering the K no-document samples of every question as one
  request with n=K, against K requests of n=1; and the answers stage through it against the bare backend call.
- vllm (when a vLLM environment exists: `make vllm-env`): the same two comparisons for the offline engine in
  its worker process, the K samples as one SamplingParams(n=K) against K requests of n=1 (seeds derived from
  (seed, sample index), as the openai fan-out). The stage starts its own engine and ends it, so its raw
  counterpart is the same lifecycle without the framework: start an engine, generate, end it. (The engine's
  first generate is slower than later ones; a warm engine's time is shown too.)
Besides, for each backend: the stage runs' time over the time spent inside their backend calls (opening it,
generate, close) in the same runs, i.e. the framework's own share without the run-to-run noise of a shared machine.
The upstream stages (ingest of one Wikipedia category, chunk, greedy questions with no filters) run first, untimed.
Times are best-of (2 stage runs, 3 raw calls, interleaved): the machine may be shared.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from _overhead import build_config, stage_requests, stage_vs_raw, timed, upstream

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.openai_server


def vllm_rows(cfg, store, refs, k: int) -> list[str]:
    """The vllm rows of the table, or one line saying why there are none."""
    from selftrain_core.backends.vllm_engine import VLLMBackend, vllm_python
    from selftrain_core.errors import ConfigError
    from selftrain_core.hashing import derive_seed
    from selftrain_core.models.precision import inference_dtype
    from selftrain_core.models.resolve import resolve_model
    from selftrain_core.stages.answers import stage as answers

    try:
        vllm_python()
    except ConfigError as err:
        return [f"| vllm | skipped: {err} | | |"]
    vcfg = cfg.model_copy(update={"answers": cfg.answers.model_copy(update={"backend": "vllm"})})
    path = resolve_model(cfg.model.name).path
    start_s, backend = timed(lambda: VLLMBackend(path, dtype=inference_dtype(cfg.model, "vllm")))
    try:
        rows = sorted(store.read_rows(refs["questions"]), key=lambda q: q["question_id"])
        no_doc = [answers.question_requests(vcfg, q, "")[2] for q in rows]
        fan_out = [
            replace(r, request_id=f"{r.request_id}/{s}", n=1, seed=derive_seed(r.seed, s))
            for r in no_doc
            for s in range(r.n)
        ]
        backend.generate(no_doc[:1])  # warm-up
        n_k = sorted(timed(lambda: backend.generate(no_doc))[0] for _ in range(3))[1]
        k_requests = sorted(timed(lambda: backend.generate(fan_out))[0] for _ in range(3))[1]
        requests = stage_requests(vcfg, store, refs)[1]
        warm = sorted(timed(lambda: backend.generate(requests))[0] for _ in range(3))[1]
    finally:
        close_s = timed(backend.close)[0]

    def lifecycle(requests):
        """What the stage cannot do without: start an engine, generate, end it."""
        engine = VLLMBackend(path, dtype=inference_dtype(cfg.model, "vllm"))
        engine.generate(requests)
        engine.close()

    vl = stage_vs_raw(vcfg, store, refs, lifecycle)
    return [
        f"| vllm | {len(no_doc)} no-doc requests, n={k} in one request each | {n_k:.2f} | |",
        f"| vllm | the same as {len(fan_out)} requests of n=1 | {k_requests:.2f} | |",
        f"| vllm | n=K / K requests | | {n_k / k_requests:.3f} |",
        f"| vllm | engine start (worker process) / end | {start_s:.2f} / {close_s:.2f} | |",
        f"| vllm | raw VLLMBackend.generate on a warm engine ({vl['requests']} requests) | {warm:.2f} | |",
        f"| vllm | raw engine start + generate + end, same requests | {vl['raw_s']:.2f} | |",
        f"| vllm | answers stage ({vl['questions']} questions; starts and ends its engine) | {vl['stage_s']:.2f} | |",
        f"| vllm | stage / raw (start + generate + end) | | {vl['stage_s'] / vl['raw_s']:.3f} |",
        f"| vllm | stage / its own backend calls (start, generate, end; same runs) | | {vl['inside']:.4f} |",
    ]


def hf_rows(cfg, store, refs, k: int) -> list[str]:
    from selftrain_core.backends.loading import open_backend
    from selftrain_core.backends.settings import GenerationSettings
    from selftrain_core.models.precision import inference_dtype

    settings = GenerationSettings(
        section="answers",
        backend="hf",
        model=cfg.model.name,
        dtype=inference_dtype(cfg.model, "hf"),  # what the stage runs in
        device="cpu",
        batch_size=cfg.answers.batch_size,
    )
    load_s, backend = timed(lambda: open_backend(settings))
    hf = stage_vs_raw(cfg, store, refs, backend.generate)
    backend.close()
    return [
        f"| hf | answers stage ({hf['questions']} questions, {hf['requests']} requests) | {hf['stage_s']:.2f} | |",
        f"| hf | raw HFBackend.generate, same requests | {hf['raw_s']:.2f} | |",
        f"| hf | model load (inside the stage) | {load_s:.2f} | |",
        f"| hf | stage / raw | | {hf['stage_s'] / hf['raw_s']:.3f} |",
        f"| hf | (stage - model load) / raw | | {(hf['stage_s'] - load_s) / hf['raw_s']:.3f} |",
        f"| hf | stage / its own backend calls (load, generate, close; same runs) | | {hf['inside']:.4f} |",
    ]


def openai_rows(cfg, store, refs, k: int) -> list[str]:
    from selftrain_core.backends.config import OpenAIServerConfig
    from selftrain_core.backends.openai_compat import OpenAICompatBackend
    from selftrain_core.stages.answers import stage as answers
    from tests.openai_server import free_port, start_process

    port = free_port()
    proc = start_process(port, model=cfg.model.name, served_name=cfg.model.name)
    try:
        server = {"base_url": f"http://127.0.0.1:{port}/v1", "model": cfg.model.name, "max_concurrency": 4}
        ocfg = cfg.model_copy(
            update={
                "answers": cfg.answers.model_copy(update={"backend": "openai", "server": OpenAIServerConfig(**server)})
            }
        )
        rows = sorted(store.read_rows(refs["questions"]), key=lambda q: q["question_id"])
        no_doc = [answers.question_requests(ocfg, q, "")[2] for q in rows]
        times = {}
        for supports_n in (True, False):
            b = OpenAICompatBackend(OpenAIServerConfig(**server, supports_n=supports_n))
            b.generate(no_doc[:1])
            times[supports_n] = sorted(timed(lambda b=b: b.generate(no_doc))[0] for _ in range(3))[1]
        oa = stage_vs_raw(ocfg, store, refs, OpenAICompatBackend(OpenAIServerConfig(**server)).generate)
    finally:
        proc.kill()
        proc.wait()
    return [
        f"| openai | {len(no_doc)} no-doc requests, n={k} in one request each | {times[True]:.2f} | |",
        f"| openai | the same as {len(no_doc) * k} requests of n=1 (fan-out) | {times[False]:.2f} | |",
        f"| openai | n=K / K requests | | {times[True] / times[False]:.3f} |",
        f"| openai | answers stage via the test server | {oa['stage_s']:.2f} | |",
        f"| openai | raw OpenAICompatBackend.generate, same requests | {oa['raw_s']:.2f} | |",
        f"| openai | stage / raw | | {oa['stage_s'] / oa['raw_s']:.3f} |",
        f"| openai | stage / its own backend calls (check, generate, close; same runs) | | {oa['inside']:.4f} |",
    ]


ROWS = {"hf": hf_rows, "openai": openai_rows, "vllm": vllm_rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=6, help="documents (one question each)")
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--backends", default="hf,openai,vllm", help="comma-separated: hf, openai, vllm")
    parser.add_argument("--dtype", default="auto", help="model.dtype (auto: as models/precision.py resolves it)")
    args = parser.parse_args()

    import torch

    lines = [
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}; SmolLM2-135M CPU, model.dtype {args.dtype}; {args.questions} questions, "
        f"K={args.k}, {args.tokens} new tokens",
        "",
        "| backend | measure | seconds | ratio |",
        "| --- | --- | --- | --- |",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = build_config(Path(tmp) / "root", args.questions, args.k, args.tokens)
        cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"dtype": args.dtype})})
        store, refs = upstream(cfg)
        for name in args.backends.split(","):
            lines += ROWS[name](cfg, store, refs, args.k)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
