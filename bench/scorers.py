"""Benchmark: how well each knowledge scorer predicts that a no-document answer is wrong, and how fast it is.

    OMP_NUM_THREADS=1 .venv/bin/python bench/scorers.py [--root artifacts] [--answers KEY] [--nli NAME] \
        [--out bench/results/scorers.md]
    OMP_NUM_THREADS=1 .venv/bin/python bench/scorers.py --gold 55 [--skip selfcheck-prompt] \
        --out bench/results/scorers-gold.md

Reference mode (default) reads an answers artifact (the newest under --root unless --answers names one: run
`selftrain answers` first) and scores every no-document sample with every scorer. The label is independent of
all scorers' outputs: a sample is wrong when its token F1 against the grounded reference is below 0.3 (SQuAD
normalisation); a question is unknown when at least half of its samples are wrong. That reference is also what
embedding agreement compares samples with, so part of its lead may be built into the label.

Gold mode (--gold N) draws N wiki-vital documents with a gradable gold answer (the article's one-line
description), spread round-robin over the categories in the corpus's reproducible order, and samples answers to
each document's identity question ("What is X?", "Who was X?") with the policy exactly as the answers stage does
(the same requests, prompts, sampling settings and seeds; the K with-document samples, which S_K never reads, are
not drawn). The rows go through the same scoring as an artifact's. Each scorer is then measured twice on the same
samples: against the gold label (a sample is wrong when its gold grade, selftrain_core/stages/evaluate/gold.py, is
below 0.5) and against the reference label above; the report also says how often the grounded reference itself
is gold-correct.

Reported per scorer and label:
- AUROC and AUC-PR of (1 - per-sample score) for "this sample is wrong", over every (question, sample);
- AUROC of (1 - S_K) for "this question is unknown";
- the AUROC difference to the predictive-entropy baseline, paired on the same resamples;
with 95% bootstrap intervals over questions (samples of one question stay together), and seconds per question
(scoring its K no-document samples; model loading excluded). NLI rows need a loadable NLI checkpoint (--nli);
without one they are listed as not measured. In reference mode, NLI throughput (pairs per second, batched vs one
pair at a time) is measured on --nli, else on random-weight BERT-base- and MiniLM-L6-sized classifiers with
all-MiniLM-L6-v2's tokenizer (random weights change no timing), over real (sentence, sample) pairs from the
artifact.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
from _scorer_gold import gold_report
from _scorer_nli import NLI_SHAPES, nli_throughput, stand_in_nli
from _scorer_runs import log, run_scorers
from _scorer_stats import label_table

from selftrain_core.config import RunConfig
from selftrain_core.config.loading import load_run_config
from selftrain_core.models.resolve import resolve_model
from selftrain_core.scorers.text import split_sentences
from selftrain_core.stages.curate.calibration import WRONG_F1, sample_wrong
from selftrain_core.stages.score.stage import score_inputs
from selftrain_core.store import ArtifactStore


def reference_report(args, cfg: RunConfig) -> list[str]:
    store = ArtifactStore(args.root)
    key = args.answers or store.list("answers")[0]["key"]
    answers = sorted(store.read_rows(("answers", key)), key=lambda a: a["question_id"])
    inputs = [score_inputs(a, None)[1] for a in answers]
    wrong = [np.array([sample_wrong(s, a["reference"]) for s in a["no_doc"]]) for a in answers]
    n_samples = sum(len(w) for w in wrong)
    log(f"answers {key}: {len(answers)} questions, {n_samples} no-document samples")
    results, notes = run_scorers(cfg, inputs, args.nli, set(args.skip))
    unknown = np.mean([w.mean() >= 0.5 for w in wrong])
    lines = [
        f"Answers artifact `{key}`: {len(answers)} questions (train and held-out), {n_samples} no-document samples; "
        f"{100 * np.mean(np.concatenate(wrong)):.0f}% of samples wrong (token F1 < {WRONG_F1} vs the reference), "
        f"{100 * unknown:.0f}% of questions unknown. 95% bootstrap intervals over questions "
        f"({args.bootstrap} resamples). CPU: {platform.processor() or platform.machine()}, "
        f"{os.environ.get('OMP_NUM_THREADS', 'default')} torch threads. The label's reference is also what "
        "embedding agreement compares samples with; bench/results/scorers-gold.md measures against gold answers.",
        "",
        *label_table(results, wrong, args.bootstrap),
    ]
    pairs = [
        (sentence, sample)
        for inp in inputs
        for sentence in split_sentences(inp.reference)
        for sample in inp.samples
        if sample.strip()
    ][: args.throughput_pairs]
    lines += [
        "",
        *[f"- {note}" for note in notes],
        "",
        f"NLI throughput on {len(pairs)} real (sentence, sample) pairs from the artifact, batched (32 pairs per pass, "
        "length-sorted) vs one pair at a time; scores equal within 1e-4:",
        "",
        "| NLI model | batched pairs/s | single pairs/s | ratio |",
        "| --- | --- | --- | --- |",
    ]
    if args.nli:
        shapes = {args.nli: resolve_model(args.nli, kind="nli").path}
    else:
        shapes = {f"random-weight {name}": stand_in_nli(shape) for name, shape in NLI_SHAPES.items()}
    for described, folder in shapes.items():
        batched, single = nli_throughput(folder, pairs)
        lines.append(f"| {described} | {batched:.1f} | {single:.1f} | **{batched / single:.1f}x** |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="artifacts")
    parser.add_argument("--answers", default=None, help="answers artifact key (default: the newest)")
    parser.add_argument("--gold", type=int, default=None, help="gold mode: sample N wiki-vital identity questions")
    parser.add_argument("--examples", type=int, default=8, help="gold mode: example questions shown")
    parser.add_argument("--skip", action="append", default=[], help="a scorer id not to measure (repeatable)")
    parser.add_argument("--nli", default=None, help="an NLI checkpoint this machine can load (alias, folder, hub id)")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--throughput-pairs", type=int, default=256)
    parser.add_argument("--out", default=None, help="also write the markdown report here")
    args = parser.parse_args()

    start = time.perf_counter()
    cfg = load_run_config(None)
    lines = gold_report(args, cfg) if args.gold else reference_report(args, cfg)
    log(f"wall time {time.perf_counter() - start:.0f} s")
    report = "\n".join(lines)
    print(report)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(report + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
