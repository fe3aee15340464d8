"""One timed `HFBackend.generate` over requests read from JSON, in whatever selftrain_core is first on sys.path.

    python bench/_generate_requests.py REQUESTS.json OUT.json [--batch-size 8] [--dtype float32]

A child of bench/revision_ab.py: it runs with PYTHONPATH set to the source tree under test, so it uses only what
every revision has (ChatRequest's fields, resolve_model, load_causal_lm, load_tokenizer, HFBackend). The model is
loaded untimed; generate is timed whole, and the model's forward calls are counted and timed (bench/_roofline.py's
Forwards): prefill (a prompt batch) and decode (one token a row).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("requests", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    args = parser.parse_args()
    from _roofline import Forwards

    import selftrain_core
    from selftrain_core.backends.chat import ChatRequest
    from selftrain_core.backends.hf import HFBackend
    from selftrain_core.models.loading import load_causal_lm, load_tokenizer
    from selftrain_core.models.resolve import resolve_model

    spec = json.loads(args.requests.read_text(encoding="utf-8"))
    requests = [ChatRequest(**r) for r in spec["requests"]]
    model = resolve_model(spec["model"])
    backend = HFBackend(load_causal_lm(model, dtype=args.dtype, device="cpu"), load_tokenizer(model), args.batch_size)
    forwards = Forwards()  # the model's forward calls: prefill (a prompt batch) and decode (one token a row)
    forwards.wrap(backend.model)
    start = time.perf_counter()
    results = backend.generate(requests)
    seconds = time.perf_counter() - start
    out = {
        "tree": str(Path(selftrain_core.__file__).parent.parent),
        "seconds": seconds,
        "completion_tokens": sum(c.n_tokens for r in results for c in r.completions),
        "texts": [c.text for r in results for c in r.completions],
        **dataclasses.asdict(forwards),
    }
    args.out.write_text(json.dumps(out), encoding="utf-8")


if __name__ == "__main__":
    main()
