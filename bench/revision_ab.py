"""The hf backend's generation in two source trees on the same requests, in fresh processes, in turn (A B B A ...).

    OMP_NUM_THREADS=2 .venv/bin/python bench/revision_ab.py --baseline REV [--questions 12] [--rounds 2] [--out FILE]

(with HF_HUB_OFFLINE=1 PREFECT_SERVER_ANALYTICS_ENABLED=false). The ingest, chunk and questions stages of one
Wikipedia category run once, in this tree (untimed); the answers stage's requests for the first --questions
questions (the greedy reference, K samples with and K without the document) are written as JSON. Then each round
runs bench/_generate_requests.py twice, once with the baseline revision's selftrain_core (a temporary git worktree)
and once with this working tree's, the order reversed every other round: each child loads the model (untimed) and
times one `HFBackend.generate` over all the requests, counting the model's prefill and decode forwards. A ratio is
baseline seconds / this tree's seconds within one round (a pair run minutes apart on the same machine), so it holds
when the machine's speed drifts between rounds; quote the median. The trees may sample differently (texts are
compared, not required to match).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _overhead import build_config, emit, stage_requests, upstream

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def write_requests(path: Path, args) -> tuple[int, int]:
    cfg = build_config(path.parent / "root", args.documents, args.k, args.tokens)
    store, refs = upstream(cfg)
    rows, requests = stage_requests(cfg, store, refs)
    per_question = len(requests) // len(rows)
    chosen = requests[: args.questions * per_question]
    spec = {"model": cfg.model.name, "requests": [dataclasses.asdict(r) for r in chosen]}
    path.write_text(json.dumps(spec), encoding="utf-8")
    return len(chosen), min(args.questions, len(rows))


def run_child(tree: Path, requests: Path, out: Path, batch_size: int, dtype: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    child = [
        sys.executable,
        str(HERE / "_generate_requests.py"),
        str(requests),
        str(out),
        f"--batch-size={batch_size}",
        f"--dtype={dtype}",
    ]
    subprocess.run(child, env=env, check=True, stdout=subprocess.DEVNULL)
    result = json.loads(out.read_text(encoding="utf-8"))
    if Path(result["tree"]).resolve() != tree.resolve():
        raise SystemExit(f"the child imported selftrain_core from {result['tree']}, not {tree}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="a git revision of this repository")
    parser.add_argument("--documents", type=int, default=40, help="documents of one category (one question each)")
    parser.add_argument("--questions", type=int, default=12, help="questions whose answers-stage requests are timed")
    parser.add_argument("--k", type=int, default=5, help="answers' samples per role")
    parser.add_argument("--tokens", type=int, default=64, help="max new tokens")
    parser.add_argument("--batch-size", type=int, default=8, help="this tree's hf batch size")
    parser.add_argument("--baseline-batch-size", type=int, help="the baseline's (default: --batch-size)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="the model's, both trees")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    started, load = time.perf_counter(), os.getloadavg()[0]
    revision = subprocess.run(
        ["git", "rev-parse", "--short", args.baseline], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.strip()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
    dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout)
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
        tmp = Path(tmp)
        worktree = tmp / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", str(worktree), revision], cwd=REPO, check=True)
        try:
            n_requests, n_questions = write_requests(tmp / "requests.json", args)
            trees = {"baseline": worktree, "this tree": REPO}
            sizes = {"baseline": args.baseline_batch_size or args.batch_size, "this tree": args.batch_size}
            runs: dict[str, list[dict]] = {name: [] for name in trees}
            for round_ in range(args.rounds):
                for name in list(trees) if round_ % 2 == 0 else list(trees)[::-1]:
                    result = run_child(trees[name], tmp / "requests.json", tmp / "out.json", sizes[name], args.dtype)
                    runs[name].append(result)
                    print(f"round {round_ + 1} {name}: {result['seconds']:.1f} s", file=sys.stderr)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO, check=False)
    import torch

    ratios = [b["seconds"] / t["seconds"] for b, t in zip(runs["baseline"], runs["this tree"], strict=True)]
    lines = [
        "# bench/revision_ab.py",
        "",
        f"`{' '.join(['bench/revision_ab.py', *sys.argv[1:]])}`, {datetime.date.today()}, "
        f"{time.perf_counter() - started:.0f} s in all; this tree: {head.strip()}{' + changes' if dirty else ''}, "
        f"baseline {revision}; torch threads {torch.get_num_threads()}, load average {load:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end",
        "",
        f"requests: the answers stage's for {n_questions} questions ({n_requests} requests: the reference, K = "
        f"{args.k} with and K without the document, up to {args.tokens} tokens); batch size: baseline "
        f"{args.baseline_batch_size or args.batch_size}, this tree {args.batch_size}; model dtype {args.dtype}",
        "",
        "| tree | seconds each round | generated tokens | tokens/s (best) | prefill forwards | prefill tokens "
        "| decode steps | rows a step |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, results in runs.items():
        r = results[0]
        best = min(x["seconds"] for x in results)
        each = " / ".join(f"{x['seconds']:.1f}" for x in results)
        lines.append(
            f"| {name} | {each} | {r['completion_tokens']} "
            f"| {r['completion_tokens'] / best:.1f} | {r['prefill_calls']} | {r['prefill_tokens']} "
            f"| {r['decode_steps']} | {r['decode_rows'] / max(r['decode_steps'], 1):.1f} |"
        )
    same = sum(a == b for a, b in zip(runs["baseline"][0]["texts"], runs["this tree"][0]["texts"], strict=True))
    lines += [
        "",
        f"baseline / this tree, seconds, per round: {' '.join(f'{x:.2f}x' for x in ratios)} "
        f"(median {statistics.median(ratios):.2f}x); texts equal: {same} of {len(runs['baseline'][0]['texts'])}",
    ]
    emit(lines, args.out)


if __name__ == "__main__":
    main()
