"""Benchmark: how well each knowledge scorer predicts that a no-document answer is wrong, and how fast it is.

    .venv/bin/python bench/scorers.py [--root artifacts] [--answers KEY] [--nli NAME] [--out bench/results/scorers.md]

Reads an answers artifact (the newest under --root unless --answers names one: run `selftrain answers` first) and
scores every no-document sample with every scorer. The label is independent of all scorers: a sample is wrong
when its token F1 against the grounded reference is below 0.3 (SQuAD normalisation); a question is unknown when
at least half of its samples are wrong. Reported per scorer:
- AUROC and AUC-PR of (1 - per-sample score) for "this sample is wrong", over every (question, sample);
- AUROC of (1 - S_K) for "this question is unknown";
- the AUROC difference to the predictive-entropy baseline, paired on the same resamples;
with 95% bootstrap intervals over questions (samples of one question stay together), and seconds per question
(scoring its K no-document samples; model loading excluded). NLI rows need a loadable NLI checkpoint (--nli);
without one they are listed as not measured. NLI throughput (pairs per second, batched vs one pair at a time)
is measured on --nli, else on random-weight BERT-base- and MiniLM-L6-sized classifiers with all-MiniLM-L6-v2's
tokenizer (random weights change no timing), over real (sentence, sample) pairs from the artifact.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from selftrain_core.config_loading import load_run_config
from selftrain_core.curation.calibration import WRONG_F1, sample_wrong
from selftrain_core.evaluation.metrics import auroc
from selftrain_core.models.resolve import resolve_model
from selftrain_core.scorers import scorer_class
from selftrain_core.scorers.text import split_sentences
from selftrain_core.stages.score import open_models, score_inputs
from selftrain_core.store import ArtifactStore

VARIANTS = [  # (row name, score settings)
    ("predictive-entropy", {"scorer": "predictive-entropy"}),
    ("embedding-agreement", {"scorer": "embedding-agreement"}),
    ("semantic-entropy (embedding clusters)", {"scorer": "semantic-entropy"}),
    ("bsdetector (embedding consistency)", {"scorer": "bsdetector"}),
    ("selfcheck-prompt (policy LLM, Yes/No prob)", {"scorer": "selfcheck-prompt"}),
    ("selfcheck-nli", {"scorer": "selfcheck-nli"}),
    ("semantic-entropy (NLI clusters)", {"scorer": "semantic-entropy", "consistency": "nli"}),
    ("bsdetector (NLI consistency)", {"scorer": "bsdetector", "consistency": "nli"}),
]
BASELINE = "predictive-entropy"


def average_precision(scores: np.ndarray, positives: np.ndarray) -> float:
    if not positives.any():
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    hits = positives[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / hits.sum())


def bootstrap(metric, groups: list[np.ndarray], samples: int, seed: int = 0) -> np.ndarray:
    """metric(indices of resampled questions) over `samples` resamples of the questions."""
    rng = np.random.default_rng(seed)
    n = len(groups)
    return np.array([metric(rng.integers(0, n, n)) for _ in range(samples)])


def interval(values: np.ndarray) -> str:
    values = values[~np.isnan(values)]
    low, high = np.quantile(values, [0.025, 0.975])
    return f"[{low:.3f}, {high:.3f}]"


def versus(metric, groups, samples: int) -> str:
    """Point difference (all questions) and its paired bootstrap interval; 'beats it' when the interval is > 0."""
    deltas = bootstrap(metric, groups, samples)
    point = metric(np.arange(len(groups)))
    verdict = " **beats it**" if np.nanquantile(deltas, 0.025) > 0 else ""
    return f"{point:+.3f} {interval(deltas)}{verdict}"


# Random-weight stand-ins of two common NLI sizes (random weights change no timing).
NLI_SHAPES = {
    "BERT-base-sized (12 layers x 768, 110M)": {},
    "MiniLM-L6-sized (6 layers x 384, 22M, like cross-encoder/nli-MiniLM2-L6)": {
        "num_hidden_layers": 6,
        "hidden_size": 384,
        "num_attention_heads": 12,
        "intermediate_size": 1536,
    },
}


def stand_in_nli(shape: dict) -> str:
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("all-minilm-l6-v2", kind="embedder").path)
    labels = {0: "entailment", 1: "contradiction"}
    config = BertConfig(vocab_size=tokenizer.vocab_size, num_labels=2, id2label=labels, **shape)
    folder = Path(tempfile.mkdtemp(prefix="bench-nli-"))
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def nli_throughput(folder: str, pairs: list[tuple[str, str]]) -> tuple[float, float]:
    """(pairs/s batched, pairs/s one at a time) on the same pairs; checks that the scores agree."""
    from selftrain_core.scorers.nli import NLIModel

    model = NLIModel.load(folder, "cpu", batch_size=32)
    model.probs(pairs[:8])  # warm-up
    start = time.perf_counter()
    batched = model.probs(pairs, batch_size=32)
    batched_rate = len(pairs) / (time.perf_counter() - start)
    start = time.perf_counter()
    single = np.stack([model.probs([p], batch_size=1)[0] for p in pairs])
    single_rate = len(pairs) / (time.perf_counter() - start)
    assert np.allclose(batched, single, atol=1e-4), "batched and single NLI scores differ"
    return batched_rate, single_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="artifacts")
    parser.add_argument("--answers", default=None, help="answers artifact key (default: the newest)")
    parser.add_argument("--nli", default=None, help="an NLI checkpoint this machine can load (alias, folder, hub id)")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--throughput-pairs", type=int, default=256)
    parser.add_argument("--out", default=None, help="also write the markdown report here")
    args = parser.parse_args()

    store = ArtifactStore(args.root)
    key = args.answers or store.list("answers")[0]["key"]
    answers = sorted(store.read_rows(("answers", key)), key=lambda a: a["question_id"])
    cfg = load_run_config(None)
    inputs = [score_inputs(a, None)[1] for a in answers]
    wrong = [np.array([sample_wrong(s, a["reference"]) for s in a["no_doc"]]) for a in answers]
    unknown = np.array([w.mean() >= 0.5 for w in wrong])
    n_samples = sum(len(w) for w in wrong)
    print(f"answers {key}: {len(answers)} questions, {n_samples} no-document samples", file=sys.stderr)

    resolved = {"embedder": resolve_model(cfg.embedder.name, kind="embedder"), "policy": resolve_model(cfg.model.name)}
    if args.nli:
        resolved["nli"] = resolve_model(args.nli, kind="nli")
    models = open_models(cfg, resolved)
    results, notes = {}, []
    for name, settings in VARIANTS:
        score_cfg = cfg.score.model_copy(update=settings)  # skips the NLI check: rows without a model are skipped
        cls = scorer_class(settings["scorer"])
        if any(role not in resolved for role in cls.roles(score_cfg)):
            results[name] = None
            continue
        scorer = cls.open(score_cfg, models)
        scorer.score(inputs[:2])  # load models outside the timing
        start = time.perf_counter()
        scored = scorer.score(inputs)
        seconds = (time.perf_counter() - start) / len(inputs)
        per_sample = [1.0 - np.array(r.per_sample) for r in scored]
        per_question = np.array([1.0 - r.score for r in scored])
        results[name] = (per_sample, per_question, seconds)
        if settings["scorer"] == "bsdetector":
            grades = Counter(r.details["grade"] or "unreadable" for r in scored)
            notes.append(f"{name}: the policy's self-reflection grades over {len(scored)} questions: {dict(grades)}.")
        print(f"{name}: {seconds:.3f} s/question", file=sys.stderr)

    def sample_auroc(per_sample, idx):
        return auroc(np.concatenate([per_sample[i] for i in idx]), np.concatenate([wrong[i] for i in idx]))

    everyone = np.arange(len(answers))
    base = results[BASELINE]
    lines = [
        f"Answers artifact `{key}`: {len(answers)} questions (train and held-out), {n_samples} no-document samples; "
        f"{100 * np.mean(np.concatenate(wrong)):.0f}% of samples wrong (token F1 < {WRONG_F1} vs the reference), "
        f"{100 * unknown.mean():.0f}% of questions unknown. 95% bootstrap intervals over questions "
        f"({args.bootstrap} resamples). CPU: {platform.processor() or platform.machine()}, "
        f"{os.environ.get('OMP_NUM_THREADS', 'default')} torch threads.",
        "",
        "| scorer | AUROC per sample [95% CI] | AUC-PR per sample | per-sample AUROC - predictive entropy [95% CI] "
        "| AUROC per question [95% CI] | per-question AUROC - predictive entropy [95% CI] | s / question |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, _ in VARIANTS:
        got = results[name]
        if got is None:
            lines.append(f"| {name} | not measured: needs a loadable NLI checkpoint (--nli) | | | | | |")
            continue
        per_sample, per_question, seconds = got
        point = sample_auroc(per_sample, everyone)
        ci = interval(bootstrap(lambda idx, ps=per_sample: sample_auroc(ps, idx), wrong, args.bootstrap))
        pr = average_precision(np.concatenate(per_sample), np.concatenate(wrong))
        q_point = auroc(per_question, unknown)
        q_ci = interval(bootstrap(lambda idx, pq=per_question: auroc(pq[idx], unknown[idx]), wrong, args.bootstrap))
        if name == BASELINE:
            diff = q_diff = "baseline"
        else:
            diff = versus(
                lambda idx, ps=per_sample: sample_auroc(ps, idx) - sample_auroc(base[0], idx), wrong, args.bootstrap
            )
            q_diff = versus(
                lambda idx, pq=per_question: auroc(pq[idx], unknown[idx]) - auroc(base[1][idx], unknown[idx]),
                wrong,
                args.bootstrap,
            )
        lines.append(
            f"| {name} | {point:.3f} {ci} | {pr:.3f} | {diff} | {q_point:.3f} {q_ci} | {q_diff} | {seconds:.3f} |"
        )

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
    report = "\n".join(lines)
    print(report)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(report + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
