"""Peak memory of ingest + chunk as the corpus grows (issue 14: memory that does not grow with the corpus).

    .venv/bin/python bench/ingest_memory.py [--sizes 1000 10000] [--out bench/results/ingest_memory.md]

Writes local JSONL corpora of each size from the wiki-vital summaries (cycled, each line a distinct document), then
runs ingest and chunk on each in a fresh process with the offline default's tokenizer and prints, per corpus: the
process's resident memory after imports and the tokenizer (the floor), its peak during the two stages, the peak
above the floor, the time, and the ratios of the largest corpus to the smallest. The whole wiki-vital corpus (the
`wiki-vital` source, every category and document) is run the same way. Each run uses a fresh artifact root.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def worker(source: str, root: str) -> None:
    """One ingest + chunk run in this process; prints a JSON line."""
    from selftrain_core.config.loading import load_run_config
    from selftrain_core.models.loading import load_tokenizer
    from selftrain_core.models.resolve import resolve_model
    from selftrain_core.stages.base import RunInfo
    from selftrain_core.stages.chunk import stage as chunk
    from selftrain_core.stages.ingest import stage as ingest
    from selftrain_core.store import ArtifactStore

    if source == "wiki-vital":
        from selftrain_core.stages.ingest.sources.wiki_vital import _load, data_file

        topics = sorted({a.get("topic") or "Uncategorized" for a in _load(str(data_file())).values()})
        overrides = [f"ingest.source.categories={json.dumps(topics)}", "ingest.source.documents_per_category=100000"]
        overrides.append("ingest.source.min_chars=0")
    else:
        overrides = ["ingest.source={kind: local, path: " + source + ", category_field: category}"]
    cfg = load_run_config(None, [f"artifact_root={root}", *overrides])
    load_tokenizer(resolve_model(cfg.model.name, cfg.model.revision))  # in the floor: every run loads it
    floor = peak_mib()
    store, quiet, start = ArtifactStore(cfg.artifact_root), (lambda _: None), time.perf_counter()
    documents = ingest.run(cfg, ingest.plan(cfg), store, RunInfo(), quiet)
    chunks = chunk.run(cfg, chunk.plan(cfg, documents), store, RunInfo(), quiet)
    seconds = time.perf_counter() - start
    counts = (store.manifest("ingest", documents.key)["row_counts"]["data"], store.manifest("chunk", chunks.key))
    print(
        json.dumps(
            {
                "documents": counts[0],
                "chunks": counts[1]["row_counts"]["data"],
                "shards": len(counts[1]["tables"]["data"]),
                "floor_mib": floor,
                "peak_mib": peak_mib(),
                "seconds": seconds,
            }
        )
    )


def write_corpus(path: Path, size: int) -> None:
    from selftrain_core.stages.ingest.sources.wiki_vital import _load, data_file

    articles = list(_load(str(data_file())).values())
    with path.open("w", encoding="utf-8") as handle:
        for i in range(size):
            article = articles[i % len(articles)]
            row = {"id": f"doc-{i}", "title": article.get("title") or f"doc-{i}", "text": article["extract"]}
            handle.write(json.dumps({**row, "category": article.get("topic") or "none"}) + "\n")


def measure(source: str, folder: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    root = tempfile.mkdtemp(dir=folder)
    out = subprocess.run(
        [sys.executable, __file__, "--worker", source, root], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"ingest + chunk on {source} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--out", default=None, help="also write the table to this Markdown file")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(*args.worker)
    lines = [
        "| corpus | documents | chunks | shards | floor MiB | peak MiB | peak above floor MiB | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes:
            corpus = Path(folder) / f"corpus-{size}.jsonl"
            write_corpus(corpus, size)
            results[f"local JSONL, {size:,}"] = measure(str(corpus), folder)
        results["wiki-vital, all"] = measure("wiki-vital", folder)
    for name, r in results.items():
        above = r["peak_mib"] - r["floor_mib"]
        lines.append(
            f"| {name} | {r['documents']:,} | {r['chunks']:,} | {r['shards']} | {r['floor_mib']:.0f} | "
            f"{r['peak_mib']:.0f} | {above:.0f} | {r['seconds']:.1f} |"
        )
    small, large = results[f"local JSONL, {args.sizes[0]:,}"], results[f"local JSONL, {args.sizes[-1]:,}"]
    ratio = large["peak_mib"] / small["peak_mib"]
    above = (large["peak_mib"] - large["floor_mib"]) / max(small["peak_mib"] - small["floor_mib"], 1.0)
    lines.append("")
    lines.append(
        f"{args.sizes[-1]:,} vs {args.sizes[0]:,} documents: peak RSS ratio {ratio:.2f}, peak above the floor "
        f"ratio {above:.2f}, documents ratio {args.sizes[-1] / args.sizes[0]:.0f}"
    )
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
