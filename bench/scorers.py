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
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from selftrain_core.backends.base import ChatResult
from selftrain_core.backends.loading import open_backend, stage_model
from selftrain_core.config import RunConfig
from selftrain_core.config.loading import load_run_config
from selftrain_core.models.resolve import resolve_model
from selftrain_core.scorers import scorer_class
from selftrain_core.scorers.text import split_sentences
from selftrain_core.stages.answers.stage import answer_row, question_requests
from selftrain_core.stages.curate.calibration import WRONG_F1, sample_wrong
from selftrain_core.stages.evaluate.gold import content_words, gold_grade
from selftrain_core.stages.evaluate.metrics import auroc
from selftrain_core.stages.ingest.config import WikiVitalSource
from selftrain_core.stages.ingest.sources import wiki_vital
from selftrain_core.stages.score.stage import open_models, score_inputs
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
GOLD_CORRECT = 0.5  # gold grade at or above which an answer is correct
GOLD_KEY = "bench-scorers-gold"  # stands in for the answers artifact key in the in-memory rows' answer ids


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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
    if not values.size:
        return "[undefined: one class]"
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


def draw_gold(n: int) -> list[dict[str, Any]]:
    """n wiki-vital documents with a gradable gold answer, round-robin over the categories (reproducible order)."""
    categories = WikiVitalSource().categories
    per_category = -(-n // len(categories))
    # Read a few spare documents per category: some articles have no description, or one with no content word.
    documents = wiki_vital.read(WikiVitalSource(documents_per_category=2 * per_category + 4))
    by_category: dict[str, list[dict[str, Any]]] = {}
    for doc in documents:
        if doc["gold_answer"] and content_words(doc["gold_answer"]):
            by_category.setdefault(doc["category"], []).append(doc)
    picked = [
        doc for rank in range(per_category) for c in categories for doc in by_category.get(c, [])[rank : rank + 1]
    ]
    if len(picked) < n:
        raise SystemExit(f"only {len(picked)} wiki-vital documents with a gradable gold answer; asked for {n}")
    return picked[:n]


def gold_answer_rows(cfg: RunConfig, documents: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], float]:
    """Answers-stage rows for each document's gold question (reference and no-document samples); s per question."""
    a = cfg.answers
    model = stage_model(a.backend, a.server, cfg.model.name, cfg.model.revision)
    backend = open_backend(
        a.backend, model, cfg.model.dtype, cfg.model.device, a.batch_size, cfg.model.adapter, None, a.server, a.vllm
    )
    questions = [
        {
            "question_id": "gold-" + doc["doc_id"],
            "chunk_id": doc["doc_id"],
            "split": "gold",
            "title": doc["title"],
            "question": doc["gold_question"],
        }
        for doc in documents
    ]
    pairs = list(zip(questions, documents, strict=True))
    rows, start = [], time.perf_counter()
    try:
        for first in range(0, len(questions), a.batch_size):
            block = pairs[first : first + a.batch_size]
            # Each question's reference and no_doc requests (the with_doc samples are not needed for S_K).
            requests = [r for q, doc in block for r in question_requests(cfg, q, doc["text"])[::2]]
            results = backend.generate(requests)
            for j, (q, _) in enumerate(block):
                reference, no_doc = results[2 * j : 2 * j + 2]
                skipped = ChatResult(f"{q['question_id']}/with_doc", [])
                rows.append(answer_row(cfg, GOLD_KEY, q, [reference, skipped, no_doc], backend.name, model.name))
            log(f"gold: sampled {len(rows)}/{len(questions)} questions")
    finally:
        backend.close()
    return rows, (time.perf_counter() - start) / len(questions)


def run_scorers(
    cfg: RunConfig, inputs: list, nli: str | None, skip: set[str]
) -> tuple[dict[str, tuple | str], list[str]]:
    """Row name -> (per-sample wrongness, per-question unknownness, s/question), or why it was not measured."""
    resolved = {"embedder": resolve_model(cfg.embedder.name, kind="embedder"), "policy": resolve_model(cfg.model.name)}
    if nli:
        resolved["nli"] = resolve_model(nli, kind="nli")
    models = open_models(cfg, resolved)
    results, notes = {}, []
    for name, settings in VARIANTS:
        score_cfg = cfg.score.model_copy(update=settings)  # skips the NLI check: rows without a model are skipped
        cls = scorer_class(settings["scorer"])
        if any(role not in resolved for role in cls.roles(score_cfg)):
            results[name] = "not measured: needs a loadable NLI checkpoint (--nli)"
            continue
        if settings["scorer"] in skip:
            results[name] = "skipped in this run (--skip) to keep it short"
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
        log(f"{name}: {seconds:.3f} s/question")
    return results, notes


def label_table(results: dict[str, tuple | str], wrong: list[np.ndarray], samples: int) -> list[str]:
    """The markdown table of every scorer against one label (per-sample `wrong`; unknown: at least half wrong)."""
    unknown = np.array([w.mean() >= 0.5 for w in wrong])

    def sample_auroc(per_sample, idx):
        return auroc(np.concatenate([per_sample[i] for i in idx]), np.concatenate([wrong[i] for i in idx]))

    everyone = np.arange(len(wrong))
    base = results[BASELINE]
    lines = [
        "| scorer | AUROC per sample [95% CI] | AUC-PR per sample | per-sample AUROC - predictive entropy [95% CI] "
        "| AUROC per question [95% CI] | per-question AUROC - predictive entropy [95% CI] | s / question |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, _ in VARIANTS:
        got = results[name]
        if isinstance(got, str):
            lines.append(f"| {name} | {got} | | | | | |")
            continue
        per_sample, per_question, seconds = got
        point = sample_auroc(per_sample, everyone)
        ci = interval(bootstrap(lambda idx, ps=per_sample: sample_auroc(ps, idx), wrong, samples))
        pr = average_precision(np.concatenate(per_sample), np.concatenate(wrong))
        q_point = auroc(per_question, unknown)
        q_ci = interval(bootstrap(lambda idx, pq=per_question: auroc(pq[idx], unknown[idx]), wrong, samples))
        if name == BASELINE:
            diff = q_diff = "baseline"
        else:
            diff = versus(lambda idx, ps=per_sample: sample_auroc(ps, idx) - sample_auroc(base[0], idx), wrong, samples)
            q_diff = versus(
                lambda idx, pq=per_question: auroc(pq[idx], unknown[idx]) - auroc(base[1][idx], unknown[idx]),
                wrong,
                samples,
            )
        lines.append(
            f"| {name} | {point:.3f} {ci} | {pr:.3f} | {diff} | {q_point:.3f} {q_ci} | {q_diff} | {seconds:.3f} |"
        )
    return lines


def label_summary(wrong: list[np.ndarray]) -> str:
    flat = np.concatenate(wrong)
    unknown = np.mean([w.mean() >= 0.5 for w in wrong])
    return f"{100 * flat.mean():.0f}% of samples wrong, {100 * unknown:.0f}% of questions unknown"


def cell(text: str, width: int = 90) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 3] + "..."


def setup_line(args, n_samples: int) -> str:
    return (
        f"95% bootstrap intervals over questions ({args.bootstrap} resamples). "
        f"CPU: {platform.processor() or platform.machine()}, {os.environ.get('OMP_NUM_THREADS', 'default')} torch "
        f"threads; {n_samples} no-document samples scored."
    )


def gold_report(args, cfg: RunConfig) -> list[str]:
    documents = draw_gold(args.gold)
    answers, sample_seconds = gold_answer_rows(cfg, documents)
    golds = [doc["gold_answer"] for doc in documents]
    inputs = [score_inputs(a, None)[1] for a in answers]
    grades = [np.array([gold_grade(s, g) for s in a["no_doc"]]) for a, g in zip(answers, golds, strict=True)]
    gold_wrong = [g < GOLD_CORRECT for g in grades]
    f1_wrong = [np.array([sample_wrong(s, a["reference"]) for s in a["no_doc"]]) for a in answers]
    reference_grades = np.array([gold_grade(a["reference"], g) for a, g in zip(answers, golds, strict=True)])
    reference_right = reference_grades >= GOLD_CORRECT
    results, notes = run_scorers(cfg, inputs, args.nli, set(args.skip))

    gw, fw = np.concatenate(gold_wrong), np.concatenate(f1_wrong)
    agree = np.mean(gw == fw)
    expected = gw.mean() * fw.mean() + (1 - gw.mean()) * (1 - fw.mean())
    kappa = (agree - expected) / (1 - expected)
    right_ref = [w for w, ok in zip(f1_wrong, reference_right, strict=True) if ok]
    right_gold = [w for w, ok in zip(gold_wrong, reference_right, strict=True) if ok]
    counts = Counter(doc["category"] for doc in documents)
    a = cfg.answers
    lines = [
        f"Gold mode: {len(documents)} wiki-vital documents with a gold answer, drawn round-robin over "
        f"{len(counts)} categories ({', '.join(f'{c} {k}' for c, k in counts.items())}). Each document's identity "
        f"question ('What is X?', 'Who was X?' for People) answered by {cfg.model.name} as the answers stage "
        f"does: a greedy reference with the document ({a.with_document_prompt}) and K={a.num_samples} no-document "
        f"samples ({a.without_document_prompt}; temperature {a.temperature}, top-p {a.top_p}, "
        f"{a.max_new_tokens} new tokens, seeds from the question id), {sample_seconds:.1f} s per question to sample. "
        "The gold answer is the article's one-line description; an answer is gold-correct when it holds at least "
        f"half of its content words (selftrain_core/stages/evaluate/gold.py). {setup_line(args, len(gw))}",
        "",
        f"- The grounded reference is gold-correct for {reference_right.sum()} of {len(answers)} questions "
        f"({100 * reference_right.mean():.0f}%): that is how often the reference label stands on a right answer.",
        f"- Gold label: {label_summary(gold_wrong)}. Reference label (token F1 < {WRONG_F1} vs the reference): "
        f"{label_summary(f1_wrong)}.",
        f"- The two labels agree on {100 * agree:.0f}% of samples (Cohen's kappa {kappa:.2f}); "
        f"{100 * np.mean(fw[~gw]):.0f}% of gold-correct samples are reference-wrong, "
        f"{100 * np.mean(~fw[gw]):.0f}% of gold-wrong samples are reference-right.",
    ]
    if right_ref:
        agree_right = np.mean(np.concatenate(right_ref) == np.concatenate(right_gold))
        lines.append(
            f"- On the {len(right_ref)} questions whose reference is gold-correct they agree on "
            f"{100 * agree_right:.0f}% of samples."
        )
    lines += [
        "",
        f"### Gold label: a sample is wrong when its gold grade is below {GOLD_CORRECT}",
        "",
        *label_table(results, gold_wrong, args.bootstrap),
        "",
        f"### Reference label, same samples: a sample is wrong when its token F1 vs the grounded reference is "
        f"below {WRONG_F1}",
        "",
        *label_table(results, f1_wrong, args.bootstrap),
        "",
        *[f"- {note}" for note in notes],
        "- NLI throughput is measured in reference mode (bench/results/scorers.md).",
        "",
        f"The first {args.examples} questions (grade: gold grade of the reference / mean over the no-document "
        "samples):",
        "",
        "| question | gold answer | reference | first no-document sample | grade |",
        "| --- | --- | --- | --- | --- |",
    ]
    for ans, gold, g in list(zip(answers, golds, grades, strict=True))[: args.examples]:
        ref_grade = gold_grade(ans["reference"], gold)
        lines.append(
            f"| {cell(ans['question'], 50)} | {cell(gold, 50)} | {cell(ans['reference'])} | "
            f"{cell(ans['no_doc'][0])} | {ref_grade:.2f} / {g.mean():.2f} |"
        )
    return lines


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
