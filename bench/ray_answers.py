"""Answers throughput on a Ray cluster (executor.kind=ray) vs the local path, on the same work.

    .venv/bin/python bench/ray_answers.py [--docs 12] [--out bench/results/ray_answers.md]    # as root

Starts a two-node Ray cluster on loopback in its own network namespace (tests/ray_cluster.py: one CPU a node, token
auth), writes the questions of a small offline run once, then times the answers stage on them four ways, each
recomputing the same artifact: the local path with 1 torch thread, the local path with 2, Ray with 1 single-thread
worker, Ray with 2 single-thread workers (one a node). Times are the stage's wall time including model loading.
Prints the throughput of each and the ratios the issue asks for: 2 Ray workers vs 1 (goal >= 1.7x on two cores),
and the Ray path's overhead over the local path with one worker and one thread (goal < 10%). It also checks that
every run wrote the same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.ray_cluster, run from anywhere

RUNS = [("local, 1 thread", [], 1), ("local, 2 threads", [], 2), ("Ray, 1 worker", ["executor.workers=1"], 1)]
RUNS.append(("Ray, 2 workers", ["executor.workers=2"], 1))


def measure(out: str, docs: int, samples: int, tokens: int) -> None:
    """Inside the namespaced cluster: time the answers stage each way; write the results as JSON."""
    import torch

    from selftrain_core.config.loading import load_run_config
    from selftrain_core.stages.answers import stage as answers
    from selftrain_core.stages.base import RunInfo
    from selftrain_core.store import ArtifactStore
    from tests.pipeline import run_pipeline

    root = tempfile.mkdtemp()
    base = [
        f"artifact_root={root}",
        "ingest.source.categories=[Geography, Technology]",
        f"ingest.source.documents_per_category={docs // 2}",
        "ingest.test_fraction=0",
        "questions.questions_per_chunk=2",
        f"answers.num_samples={samples}",
        f"answers.max_new_tokens={tokens}",
        "answers.shard_size=2",
    ]
    cfg = load_run_config(None, base)
    refs, _ = run_pipeline(cfg, stop_after="questions")
    store, results = ArtifactStore(root), []
    questions = store.manifest("questions", refs["questions"].key)["row_counts"]["data"]
    for name, extra, threads in RUNS:
        torch.set_num_threads(threads)
        executor = ["executor.kind=ray"] if extra else []
        run_cfg = load_run_config(None, [*base, *executor, *extra])
        plan = answers.plan(run_cfg, refs["questions"], refs["chunk"])
        store.delete("answers", plan.key)
        lines: list[str] = []
        start = time.perf_counter()
        answers.run(run_cfg, plan, store, RunInfo(run_id="bench"), log=lines.append)
        seconds = time.perf_counter() - start
        manifest = store.manifest("answers", plan.key)
        files = {k: v["sha256"] for k, v in manifest["files"].items() if k.startswith("data-")}
        ready = [float(line.rsplit("ready in ", 1)[1].split()[0]) for line in lines if "ready in " in line]
        generated = manifest["usage"]["completion_tokens"]
        results.append({"name": name, "seconds": seconds, "generated": generated, "files": files, "startup": ready})
    summary = {"questions": questions, "samples": samples, "tokens": tokens, "runs": results}
    Path(out).write_text(json.dumps(summary), encoding="utf-8")


def table(data: dict) -> str:
    runs = {r["name"]: r for r in data["runs"]}
    lines = [
        f"answers stage on {data['questions']} questions (K = {data['samples']}, up to {data['tokens']} tokens), wall "
        "time including model loading:",
        "",
        "| how | seconds | of which Ray workers starting | generated tokens | tokens/s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in data["runs"]:
        startup = f"{r['startup'][0]:.1f}" if r["startup"] else "-"
        rate = r["generated"] / r["seconds"]
        lines.append(f"| {r['name']} | {r['seconds']:.1f} | {startup} | {r['generated']} | {rate:.1f} |")
    one, two, local = runs["Ray, 1 worker"], runs["Ray, 2 workers"], runs["local, 1 thread"]
    warm_one, warm_two = one["seconds"] - one["startup"][0], two["seconds"] - two["startup"][0]
    one_thread = [r for r in data["runs"] if r["name"] != "local, 2 threads"]  # floats differ with the thread count
    same = len({json.dumps(r["files"], sort_keys=True) for r in one_thread}) == 1
    lines += [
        "",
        f"Ray 2 workers vs 1: {one['seconds'] / two['seconds']:.2f}x throughput (goal >= 1.7x); once the workers "
        f"are up: {warm_one / warm_two:.2f}x",
        f"Ray 1 worker over local 1 thread: {100 * (one['seconds'] / local['seconds'] - 1):+.1f}% time (goal < 10%); "
        f"without the workers' start: {100 * (warm_one / local['seconds'] - 1):+.1f}%",
        f"every one-thread run (local and Ray) wrote the same bytes: {same}",
    ]
    return "\n".join(lines)


def main(args: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=12, help="documents (half Geography, half Technology)")
    parser.add_argument("--samples", type=int, default=5, help="answers.num_samples (K)")
    parser.add_argument("--tokens", type=int, default=32, help="answers.max_new_tokens")
    parser.add_argument("--out", default=None, help="also write the table to this Markdown file")
    parser.add_argument("--inside", default=None, help=argparse.SUPPRESS)
    opts = parser.parse_args(args)
    if opts.inside:
        return measure(opts.inside, opts.docs, opts.samples, opts.tokens)
    from tests.ray_cluster import run_job, unavailable

    if (reason := unavailable()) is not None:
        raise SystemExit(f"cannot start the bench's cluster: {reason}")
    with tempfile.TemporaryDirectory() as folder:
        out = f"{folder}/result.json"
        env = {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        sizes = ["--docs", str(opts.docs), "--samples", str(opts.samples), "--tokens", str(opts.tokens)]
        done = run_job("bench.ray_answers", ["--inside", out, *sizes], timeout=3600, env=env)
        if done.returncode != 0:
            raise SystemExit(f"the bench failed:\n{done.stderr[-4000:]}")
        text = table(json.loads(Path(out).read_text(encoding="utf-8")))
    print(text)
    if opts.out:
        Path(opts.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
