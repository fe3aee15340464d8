"""Gold mode of bench/scorers.py (--gold N): wiki-vital identity questions answered by the policy as the answers stage
does, each scorer measured against the gold label and against the reference label on the same samples."""

from __future__ import annotations

import os
import platform
import time
from collections import Counter
from typing import Any

import numpy as np
from _scorer_runs import log, run_scorers
from _scorer_stats import label_summary, label_table

from selftrain_core.backends.base import ChatResult
from selftrain_core.backends.loading import open_backend
from selftrain_core.backends.settings import GenerationSettings
from selftrain_core.config import RunConfig
from selftrain_core.stages.answers.stage import answer_row, question_requests
from selftrain_core.stages.curate.calibration import WRONG_F1, sample_wrong
from selftrain_core.stages.evaluate.gold import content_words, gold_grade
from selftrain_core.stages.ingest.config import WikiVitalSource
from selftrain_core.stages.ingest.sources import wiki_vital
from selftrain_core.stages.score.stage import score_inputs

GOLD_CORRECT = 0.5  # gold grade at or above which an answer is correct
GOLD_KEY = "bench-scorers-gold"  # stands in for the answers artifact key in the in-memory rows' answer ids


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
    a, settings = cfg.answers, GenerationSettings.for_answers(cfg)
    model = settings.resolve()
    backend = open_backend(settings, model=model)
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
