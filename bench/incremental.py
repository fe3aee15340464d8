"""What a weekly run costs when N documents were added to a corpus of M (issue 14: incremental runs).

    .venv/bin/python bench/incremental.py [--documents 60] [--added 5] [--out bench/results/incremental.md]

Writes a local JSONL corpus of M + N wiki-vital summaries (round-robin over the categories), then runs every stage of
the offline default (SmolLM2-135M, ingest .. evaluate, without Prefect) three times, each in a fresh process:
1. on the first M documents, from an empty artifact root (last week's run);
2. on all M + N, in the same root: the stages reuse what run 1 computed (this week's run);
3. on all M + N, from an empty root (what this week's run would cost without reuse).
Prints each stage's seconds in the three runs and the rows run 2 computed and reused. Runs 2 and 3 hold the same
rows (the same ids; new rows are sampled in other batches than run 3's, so their logprobs may differ in float
rounding).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.pipeline

STAGES = ("ingest", "chunk", "questions", "answers", "score", "curate", "train", "evaluate")


def worker(corpus: str, root: str) -> None:
    """One run of every stage in this process; prints a JSON line: per stage, seconds and the manifest's reuse."""
    from selftrain_core.config.loading import load_run_config
    from selftrain_core.stages.base import RunInfo
    from selftrain_core.store import ArtifactStore
    from tests.pipeline import MODULES, plan_of  # the stages in order, as the flow plans them

    source = "ingest.source={kind: local, path: " + corpus + ", category_field: category}"
    cfg = load_run_config("offline-cpu", [f"artifact_root={root}", source])
    store, refs, out = ArtifactStore(cfg.artifact_root), {}, {}
    for stage in STAGES:
        start = time.perf_counter()
        plan = plan_of(stage, cfg, refs)
        refs[stage] = MODULES[stage].run(cfg, plan, store, RunInfo(run_id="bench"), lambda _: None)
        manifest = store.manifest(stage, refs[stage].key)
        out[stage] = {
            "seconds": time.perf_counter() - start,
            "reuse": manifest.get("reuse"),
            "rows": manifest["row_counts"].get("data", 0),
        }
    print(json.dumps(out))


def write_corpus(path: Path, size: int) -> None:
    from selftrain_core.stages.ingest.sources.wiki_vital import _load, data_file

    by_topic: dict[str, list[dict]] = {}
    for article in _load(str(data_file())).values():
        if len(article.get("extract") or "") >= 200:
            by_topic.setdefault(article.get("topic") or "none", []).append(article)
    topics = sorted(by_topic)
    rows = [by_topic[topics[i % len(topics)]][i // len(topics)] for i in range(size)]
    with path.open("w", encoding="utf-8") as handle:
        for article in rows:
            row = {"id": article["title"], "title": article["title"], "text": article["extract"]}
            handle.write(json.dumps({**row, "category": article.get("topic") or "none"}) + "\n")


def run(corpus: Path, root: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    out = subprocess.run(
        [sys.executable, __file__, "--worker", str(corpus), root], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"the run on {corpus} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=60, help="M: the corpus of last week's run")
    parser.add_argument("--added", type=int, default=5, help="N: documents added since")
    parser.add_argument("--out", default=None, help="also write the table to this Markdown file")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(*args.worker)
    m, n = args.documents, args.added
    with tempfile.TemporaryDirectory() as folder:
        full, grown = Path(folder) / "full.jsonl", Path(folder) / "corpus.jsonl"
        write_corpus(full, m + n)
        lines = full.read_text(encoding="utf-8").splitlines(keepends=True)
        grown.write_text("".join(lines[:m]), encoding="utf-8")
        root = tempfile.mkdtemp(dir=folder)
        last_week = run(grown, root)
        grown.write_text("".join(lines), encoding="utf-8")
        this_week = run(grown, root)
        scratch = run(grown, tempfile.mkdtemp(dir=folder))
    table = [
        f"| stage | {m} documents, from scratch (s) | {m} + {n}, reusing (s) | {m} + {n}, from scratch (s) | "
        "rows computed / reused |",
        "|---|---:|---:|---:|---:|",
    ]
    for stage in STAGES:
        reuse = this_week[stage]["reuse"]
        rows = f"{reuse['computed_rows']} / {reuse['reused_rows']}" if reuse else "all (no reuse)"
        table.append(
            f"| {stage} | {last_week[stage]['seconds']:.1f} | {this_week[stage]['seconds']:.1f} | "
            f"{scratch[stage]['seconds']:.1f} | {rows} |"
        )
    totals = [sum(r[s]["seconds"] for s in STAGES) for r in (last_week, this_week, scratch)]
    table.append(f"| **total** | {totals[0]:.1f} | {totals[1]:.1f} | {totals[2]:.1f} | |")
    sampled = ("questions", "answers", "score")
    ratio = sum(scratch[s]["seconds"] for s in sampled) / max(sum(this_week[s]["seconds"] for s in sampled), 1e-9)
    table += [
        "",
        f"{n} documents added to {m}: the week's run took {totals[1] / totals[2]:.2f} of a run from scratch; "
        f"questions + answers + score {ratio:.1f}x faster than from scratch.",
    ]
    text = "\n".join(table)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
