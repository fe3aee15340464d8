"""Does sampling in bfloat16 change what the pipeline decides, and does it pay on this CPU?

    OMP_NUM_THREADS=2 .venv/bin/python bench/bf16.py [--gold 55] [--offset 0] [--out bench/results/bf16.md]

(with HF_HUB_OFFLINE=1 PREFECT_SERVER_ANALYTICS_ENABLED=false). What model.dtype `auto` rests on
(selftrain_core/models/precision.py). The gold documents of bench/scorers.py --gold (wiki-vital articles whose
one-line description is the gold answer: labels no model of ours produced) are sampled as the answers stage does
(a greedy reference with the document, K no-document samples, the offline default's settings and seeds) three
times: float32, bfloat16, and float32 with another seed (cfg.seed + 1). The third run is the yardstick: sampled
texts differ between any two runs, so a decision that changes with the dtype is only worth reporting against how
often it changes with the seed alone. Reported:
- speed: seconds per question inside generate (model loading excluded) for each dtype; the float32 and bfloat16
  runs alternate over the two halves of the documents (f32, bf16 | bf16, f32) so a drift of the machine falls on
  both;
- the greedy references: how many are the same text in both dtypes, their mean token F1 to each other, and how
  often each is gold-correct (the gold grade of selftrain_core/stages/evaluate/gold.py at >= 0.5), with the
  paired difference and its bootstrap interval over questions;
- the pipeline's decision: a question is unknown (it becomes training data) when the default scorer's S_K is
  below curate.known_threshold; agreement of that decision between float32 and bfloat16, against the agreement
  between the two float32 seeds;
- the scorers' quality: AUROC of the default scorer and of predictive entropy for "this no-document sample is
  gold-wrong" in each run, with 95% bootstrap intervals over questions, and the paired difference bf16 - f32.
"""

from __future__ import annotations

import argparse
import datetime
import os
import time
from pathlib import Path

import numpy as np
from _roofline import cpu_info
from _scorer_gold import GOLD_CORRECT, draw_gold, gold_answer_rows
from _scorer_runs import BASELINE, VARIANTS, log, run_scorers
from _scorer_stats import bootstrap, interval

from selftrain_core.config import RunConfig
from selftrain_core.config.loading import load_run_config
from selftrain_core.stages.evaluate.gold import gold_grade
from selftrain_core.stages.evaluate.metrics import auroc, token_f1
from selftrain_core.stages.score.stage import score_inputs

RUNS = {"float32": ("float32", 0), "bfloat16": ("bfloat16", 0), "float32, seed + 1": ("float32", 1)}


def configured(cfg: RunConfig, dtype: str, seed_offset: int) -> RunConfig:
    return cfg.model_copy(
        update={"model": cfg.model.model_copy(update={"dtype": dtype}), "seed": cfg.seed + seed_offset}
    )


def sample_runs(cfg: RunConfig, documents: list[dict]) -> tuple[dict[str, list[dict]], dict[str, float]]:
    """Each run's answer rows over all documents, and seconds per question inside generate (ABBA for the dtypes)."""
    half = len(documents) // 2
    blocks = [
        ("float32", 0, half),
        ("bfloat16", 0, half),
        ("bfloat16", half, len(documents)),
        ("float32", half, len(documents)),
        ("float32, seed + 1", 0, len(documents)),
    ]
    rows: dict[str, list[dict]] = {run: [] for run in RUNS}
    seconds: dict[str, float] = dict.fromkeys(RUNS, 0.0)
    for run, first, last in blocks:
        got, per_question = gold_answer_rows(configured(cfg, *RUNS[run]), documents[first:last])
        rows[run] += got
        seconds[run] += per_question * (last - first)
        log(f"{run}: documents {first}-{last} sampled, {per_question:.2f} s per question")
    return rows, {run: s / len(documents) for run, s in seconds.items()}


def paired(metric, n: int, samples: int) -> str:
    """metric(question indices) on all questions, and its bootstrap interval over questions."""
    groups = [np.zeros(1)] * n
    return f"{metric(np.arange(n)):+.3f} {interval(bootstrap(metric, groups, samples))}"


def decisions(cfg: RunConfig, rows: dict[str, list[dict]], golds: list[str], samples: int) -> list[str]:
    """The scorers' AUROC per run and the known/unknown decision's agreement between runs."""
    default = next(name for name, s in VARIANTS if s == {"scorer": cfg.score.scorer})
    skip = {s["scorer"] for name, s in VARIANTS if name not in (default, BASELINE)}
    wrong, scored = {}, {}
    for run, answers in rows.items():
        inputs = [score_inputs(a, None)[1] for a in answers]
        results, _ = run_scorers(cfg, inputs, None, skip)
        scored[run] = {name: results[name] for name in (BASELINE, default)}
        wrong[run] = [
            np.array([gold_grade(s, g) < GOLD_CORRECT for s in a["no_doc"]])
            for a, g in zip(answers, golds, strict=True)
        ]
    n = len(golds)
    rates = ", ".join(
        f"{run} {100 * np.concatenate(wrong[run]).mean():.0f}% "
        f"({np.mean([len(lp) for a in rows[run] for lp in a['no_doc_logprobs']]):.1f} tokens a sample)"
        for run in rows
    )
    unknown = {run: (1.0 - scored[run][default][1]) < cfg.curate.known_threshold for run in rows}
    lines = [
        f"No-document samples gold-wrong: {rates}.",
        "",
        f"The decision (unknown: {default} S_K below curate.known_threshold = {cfg.curate.known_threshold}): "
        f"{', '.join(f'{run} {unknown[run].sum()} of {n}' for run in rows)} questions unknown.",
        "",
        "| pair of runs | same decision | both unknown | only the first unknown | only the second unknown |",
        "| --- | --- | --- | --- | --- |",
    ]
    for a, b in (("float32", "bfloat16"), ("float32", "float32, seed + 1")):
        x, y = unknown[a], unknown[b]
        lines.append(
            f"| {a} vs {b} | {np.sum(x == y)} of {n} | {np.sum(x & y)} | {np.sum(x & ~y)} | {np.sum(~x & y)} |"
        )
    lines += [
        "",
        "| scorer | run | AUROC per sample, gold-wrong [95% CI] | minus float32's, paired over questions [95% CI] |",
        "| --- | --- | --- | --- |",
    ]
    for name in (default, BASELINE):

        def sample_auroc(run, idx, name=name):
            per_sample = scored[run][name][0]
            return auroc(np.concatenate([per_sample[i] for i in idx]), np.concatenate([wrong[run][i] for i in idx]))

        for run in rows:
            point = sample_auroc(run, np.arange(n))
            ci = interval(bootstrap(lambda idx, run=run: sample_auroc(run, idx), wrong[run], samples))
            diff = (
                ""
                if run == "float32"
                else paired(lambda idx, run=run: sample_auroc(run, idx) - sample_auroc("float32", idx), n, samples)
            )
            lines.append(f"| {name} | {run} | {point:.3f} {ci} | {diff} |")
    return lines


def references(rows: dict[str, list[dict]], golds: list[str], samples: int) -> list[str]:
    f32, bf16 = rows["float32"], rows["bfloat16"]
    same = sum(a["reference"] == b["reference"] for a, b in zip(f32, bf16, strict=True))
    f1 = np.mean([token_f1(a["reference"], b["reference"]) for a, b in zip(f32, bf16, strict=True)])
    right = {
        run: np.array([gold_grade(a["reference"], g) >= GOLD_CORRECT for a, g in zip(rows[run], golds, strict=True)])
        for run in ("float32", "bfloat16")
    }
    n = len(golds)
    diff = paired(lambda idx: right["bfloat16"][idx].mean() - right["float32"][idx].mean(), n, samples)
    return [
        f"- Greedy references (with the document): {same} of {n} the same text in both dtypes; mean token F1 "
        f"between the two {f1:.2f}. Gold-correct: float32 {right['float32'].sum()}, bfloat16 "
        f"{right['bfloat16'].sum()} of {n}; the same verdict on {np.sum(right['float32'] == right['bfloat16'])}; "
        f"bf16 - f32 rate {diff}.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gold", type=int, default=55, help="wiki-vital documents with a gold answer")
    parser.add_argument("--offset", type=int, default=0, help="skip the first N of the gold draw (a fresh set)")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--out", type=Path, help="also write the report here (markdown)")
    args = parser.parse_args()
    start = time.perf_counter()
    cfg = load_run_config(None)
    documents = draw_gold(args.offset + args.gold)[args.offset :]
    golds = [doc["gold_answer"] for doc in documents]
    rows, seconds = sample_runs(cfg, documents)
    name, flags = cpu_info()
    lines = [
        "# bench/bf16.py",
        "",
        f"`OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} .venv/bin/python bench/bf16.py --gold {args.gold} "
        f"--offset {args.offset}`,"
        f" {datetime.date.today()}. Machine: {name}, {os.cpu_count()} CPUs; native bf16 flags: "
        f"{', '.join(flags) or 'none'}. {len(documents)} wiki-vital gold questions, K={cfg.answers.num_samples} "
        f"no-document samples each (temperature {cfg.answers.temperature}, top-p {cfg.answers.top_p}, "
        f"{cfg.answers.max_new_tokens} new tokens); 95% bootstrap intervals over questions ({args.bootstrap}).",
        "",
        f"- Sampling, seconds per question inside generate: float32 {seconds['float32']:.2f}, bfloat16 "
        f"{seconds['bfloat16']:.2f}: **{seconds['float32'] / seconds['bfloat16']:.2f}x** (alternating halves; "
        f"the seed + 1 run {seconds['float32, seed + 1']:.2f}).",
        *references(rows, golds, args.bootstrap),
        "",
        *decisions(cfg, rows, golds, args.bootstrap),
    ]
    report = "\n".join(lines)
    log(f"wall time {time.perf_counter() - start:.0f} s")
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
