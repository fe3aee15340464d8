"""What bench/backend_overhead.py measures with: the upstream stages, the answers stage's requests, and the answers
stage timed against a raw backend call, with the time spent inside the backend counted apart."""

from __future__ import annotations

import time
from pathlib import Path


def emit(lines: list[str], out: Path | None) -> None:
    """Print a bench's markdown report, and write it to `out` when given."""
    report = "\n".join(lines) + "\n"
    print(report)
    if out:
        out.write_text(report, encoding="utf-8")


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def build_config(root: Path, documents: int, k: int, tokens: int):
    from selftrain_core.config.loading import build_run_config, read_config_source

    data = read_config_source("offline-cpu")
    data.update(artifact_root=str(root))
    data["ingest"] = {
        "source": {"kind": "wiki-vital", "categories": ["Geography"], "documents_per_category": documents}
    }
    data["questions"] = {**data["questions"], "filters": []}
    data["answers"] = {**data["answers"], "num_samples": k, "max_new_tokens": tokens}
    return build_run_config(data)


def upstream(cfg):
    from selftrain_core.stages.base import RunInfo
    from selftrain_core.stages.chunk import stage as chunk
    from selftrain_core.stages.ingest import stage as ingest
    from selftrain_core.stages.questions import stage as questions
    from selftrain_core.store import ArtifactStore

    store, refs, quiet = ArtifactStore(cfg.artifact_root), {}, lambda _: None
    refs["ingest"] = ingest.run(cfg, ingest.plan(cfg), store, RunInfo(), quiet)
    refs["chunk"] = chunk.run(cfg, chunk.plan(cfg, refs["ingest"]), store, RunInfo(), quiet)
    refs["questions"] = questions.run(cfg, questions.plan(cfg, refs["chunk"]), store, RunInfo(), quiet)
    return store, refs


def stage_requests(cfg, store, refs):
    """(questions, the requests the answers stage sends for them), in the stage's order."""
    from selftrain_core.stages.answers import stage as answers

    rows = sorted(store.read_rows(refs["questions"]), key=lambda q: q["question_id"])
    passages = {c["chunk_id"]: c["text"] for c in store.read_rows(refs["chunk"])}
    return rows, [r for q in rows for r in answers.question_requests(cfg, q, passages[q["chunk_id"]])]


class BackendClock:
    """Seconds spent inside the backend (opening it, generate, close) while the stage runs: the stage's own share
    is the rest, measured in the same run, so it is free of the run-to-run noise of a shared machine. It wraps
    `open_backend` where the sharded stages call it (selftrain_core/stages/shards.py)."""

    def __init__(self):
        from selftrain_core.stages import shards

        self.seconds, self._module = 0.0, shards
        self._open = shards.open_backend

    def _timed(self, fn):
        def call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return call

    def __enter__(self):
        def open_backend(*args, **kwargs):
            backend = self._timed(self._open)(*args, **kwargs)
            backend.generate, backend.close = self._timed(backend.generate), self._timed(backend.close)
            return backend

        self._module.open_backend = open_backend
        return self

    def __exit__(self, *exc):
        self._module.open_backend = self._open


def stage_vs_raw(cfg, store, refs, raw, repeats: int = 2) -> dict[str, float]:
    """Best-of times (the machine is shared: the least disturbed run is the truest): `raw(requests)` repeats + 1
    times, interleaved with `repeats` stage runs, each stage run on a deleted artifact (never a cache hit); and the
    stage runs' total time over the time spent inside their backend."""
    from selftrain_core.stages.answers import stage as answers
    from selftrain_core.stages.base import RunInfo

    rows, requests = stage_requests(cfg, store, refs)
    plan = answers.plan(cfg, refs["questions"], refs["chunk"])
    raws, stages = [timed(lambda: raw(requests))[0]], []
    with BackendClock() as clock:
        for _ in range(repeats):
            store.delete("answers", plan.key)
            stages.append(timed(lambda: answers.run(cfg, plan, store, RunInfo(), lambda _: None))[0])
            raws.append(timed(lambda: raw(requests))[0])
    return {
        "questions": len(rows),
        "requests": len(requests),
        "stage_s": min(stages),
        "raw_s": min(raws),
        "inside": sum(stages) / clock.seconds,
    }
