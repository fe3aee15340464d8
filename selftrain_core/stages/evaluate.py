"""Stage evaluate: held-out questions -> base vs trained answers, metrics with intervals, a judge, a report.

Held-out questions come from held-out documents (split=test), never seen in training. The base and trained
models answer greedily without the document (with `evaluate.with_document`, the base with it too: the
retrieval-augmented bound; from round 2 on, the previous round's model as well). Per answer: token F1 and
containment against the grounded reference, `correct` (F1 >= `correct_f1`), and `support`, its best similarity to
a sentence of the source document (below `hallucination_threshold`: a hallucination). Across questions: means with
bootstrap intervals and paired differences (trained-base, trained-previous); retention (of the questions the base
got right, the share the trained model still gets right); the knowledge scorer's AUROC for the base being right;
and a pairwise LLM judge in both orders.
Files: tables `data`, `metrics` (model, metric, value, ci_low, ci_high, n), `judge`; `report.md` and `plots/*.png`.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from tqdm.auto import tqdm

from selftrain_core.backends.base import ChatRequest
from selftrain_core.backends.loading import open_backend, stage_model
from selftrain_core.backends.served import ServedModel
from selftrain_core.backends.usage import usage_entry
from selftrain_core.config import RunConfig
from selftrain_core.config_base import result_settings
from selftrain_core.errors import StageInputError
from selftrain_core.evaluation import plots
from selftrain_core.evaluation.grounding import document_support, nli_support
from selftrain_core.evaluation.judge import PROMPT_ID as JUDGE_PROMPT
from selftrain_core.evaluation.judge import Comparison, PairwiseJudge, judge_statistics
from selftrain_core.evaluation.metrics import bootstrap_auroc, bootstrap_ci, containment, token_f1
from selftrain_core.evaluation.report import SHORT_LABELS, render_report
from selftrain_core.models.loading import load_embedder
from selftrain_core.models.resolve import ResolvedModel, resolve_model
from selftrain_core.prompts import load_prompt
from selftrain_core.stages.answers import policy_models
from selftrain_core.stages.base import RunInfo, StagePlan, execute, make_plan
from selftrain_core.stages.train import trained_checkpoint
from selftrain_core.store import ArtifactRef, ArtifactStore

STAGE, VERSION = "evaluate", 4
METRICS = ("f1", "containment", "correct", "hallucinated")

ROW_SCHEMA = pa.schema(
    [
        ("question_id", pa.string()),
        ("answer_id", pa.string()),
        ("model", pa.string()),
        ("question", pa.string()),
        ("reference", pa.string()),
        ("answer", pa.string()),
        ("f1", pa.float64()),
        ("containment", pa.float64()),
        ("correct", pa.float64()),
        ("support", pa.float64()),
        ("hallucinated", pa.float64()),
        ("s_k", pa.float64()),
    ]
)
METRIC_SCHEMA = pa.schema(
    [
        ("model", pa.string()),
        ("metric", pa.string()),
        ("value", pa.float64()),
        ("ci_low", pa.float64()),
        ("ci_high", pa.float64()),
        ("n", pa.int64()),
    ]
)
JUDGE_SCHEMA = pa.schema(
    [
        ("question_id", pa.string()),
        ("base_first", pa.string()),
        ("trained_first", pa.string()),
        ("outcome", pa.string()),
    ]
)


def judge_model(cfg: RunConfig) -> ResolvedModel | ServedModel:
    j = cfg.evaluate.judge
    return stage_model(j.backend, j.server, j.model or cfg.model.name, j.revision if j.model else cfg.model.revision)


def plan(cfg: RunConfig, trained: ArtifactRef, answers: ArtifactRef, scores: ArtifactRef, chunks: ArtifactRef):
    base = resolve_model(cfg.model.name, cfg.model.revision)
    embedder = resolve_model(cfg.embedder.name, kind="embedder")
    models = [base.manifest_entry("base"), embedder.manifest_entry("embedder")]
    if cfg.evaluate.hallucination_check == "nli":
        models.append(nli_model(cfg).manifest_entry("hallucination_nli"))
    if cfg.model.adapter:  # rounds 2+: the previous round's model is compared too
        models.append({**policy_models(cfg)[1], "role": "previous"})
    prompts = [load_prompt(cfg.answers.without_document_prompt).manifest_entry()]
    if cfg.evaluate.with_document:
        prompts.append(load_prompt(cfg.answers.with_document_prompt).manifest_entry())
    if cfg.evaluate.judge.enabled:
        models.append(judge_model(cfg).manifest_entry("judge"))
        prompts.append(load_prompt(JUDGE_PROMPT).manifest_entry())
    settings = {"evaluate": result_settings(cfg.evaluate), "seed": cfg.seed, "dtype": cfg.model.dtype}
    return make_plan(
        STAGE,
        VERSION,
        settings,
        [trained, answers, scores, chunks],
        models,
        prompts,
        runtime={"batch_size": cfg.evaluate.batch_size, "device": cfg.model.device},
    )


def nli_model(cfg: RunConfig) -> ResolvedModel:
    return resolve_model(cfg.score.nli.name, cfg.score.nli.revision, kind="nli")


def support_of(cfg: RunConfig):
    """answers, documents -> support scores, by the configured check (the model loads once)."""
    if cfg.evaluate.hallucination_check == "nli":
        from selftrain_core.models.loading import pick_device
        from selftrain_core.scorers.nli import NLIModel

        n = cfg.score.nli
        nli = NLIModel.load(nli_model(cfg).path, pick_device(cfg.model.device), n.batch_size, n.max_length)
        return lambda texts, documents: nli_support(nli, texts, documents)
    embedder = load_embedder(resolve_model(cfg.embedder.name, kind="embedder"), cfg.model.device)
    return lambda texts, documents: document_support(embedder, texts, documents, cfg.embedder.batch_size)


def answer_requests(cfg: RunConfig, questions: list[dict[str, Any]], passages: dict[str, str] | None):
    if passages is None:
        prompt = load_prompt(cfg.answers.without_document_prompt)
        messages = [prompt.messages(question=q["question"]) for q in questions]
    else:
        prompt = load_prompt(cfg.answers.with_document_prompt)
        messages = [
            prompt.messages(title=q["title"], passage=passages[q["chunk_id"]], question=q["question"])
            for q in questions
        ]
    return [
        ChatRequest(q["question_id"], m, 1, 0.0, 1.0, cfg.evaluate.max_new_tokens, 0, False)
        for q, m in zip(questions, messages, strict=True)
    ]


def greedy_answers(cfg: RunConfig, requests: list[ChatRequest], model: ResolvedModel, adapter: str | None, label: str):
    e = cfg.evaluate
    with tqdm(total=len(requests), desc=f"evaluate {label}", unit="question") as bar:
        backend = open_backend(
            e.backend, model, cfg.model.dtype, cfg.model.device, e.batch_size, adapter, bar.update, engine=e.vllm
        )
        try:
            return [r.completions[0].text for r in backend.generate(requests)]
        finally:
            backend.close()  # before the next model: one engine's memory at a time


def interval_row(model: str, metric: str, values: list[float], cfg: RunConfig) -> dict[str, Any]:
    e = cfg.evaluate
    mean, low, high = bootstrap_ci(values, e.bootstrap_samples, e.confidence, cfg.seed)
    return {"model": model, "metric": metric, "value": mean, "ci_low": low, "ci_high": high, "n": len(values)}


def summarise(rows: list[dict[str, Any]], models: list[str], cfg: RunConfig) -> list[dict[str, Any]]:
    """Means with intervals per model and metric; paired differences trained - base; retention; scorer AUROC."""
    by_model = {m: sorted((r for r in rows if r["model"] == m), key=lambda r: r["question_id"]) for m in models}
    out = [interval_row(m, metric, [r[metric] for r in by_model[m]], cfg) for m in models for metric in METRICS]
    base, trained = by_model["base"], by_model["trained"]
    for other in [m for m in models if m in ("base", "previous")]:
        for metric in METRICS:
            diffs = [t[metric] - o[metric] for o, t in zip(by_model[other], trained, strict=True)]
            out.append(interval_row(f"trained-{other}", metric, diffs, cfg))
    kept = [t["correct"] for b, t in zip(base, trained, strict=True) if b["correct"]]
    gained = [t["correct"] for b, t in zip(base, trained, strict=True) if not b["correct"]]
    out.append(interval_row("trained", "retention", kept, cfg))
    out.append(interval_row("trained", "newly_correct", gained, cfg))
    e = cfg.evaluate
    value, low, high = bootstrap_auroc(
        [b["s_k"] for b in base], [bool(b["correct"]) for b in base], e.bootstrap_samples, e.confidence, cfg.seed
    )
    out.append({"model": "scorer", "metric": "auroc", "value": value, "ci_low": low, "ci_high": high, "n": len(base)})
    return out


def judge_rows(
    cfg: RunConfig, rows: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int, dict]:
    """(per-question verdicts, metric rows, verdicts asked this run, the judge's token usage)."""
    j = cfg.evaluate.judge
    answer = {(r["question_id"], r["model"]): r for r in rows}
    ids = sorted({r["question_id"] for r in rows})
    comparisons = [
        Comparison(
            q,
            answer[(q, "base")]["question"],
            answer[(q, "base")]["reference"],
            answer[(q, "base")]["answer"],
            answer[(q, "trained")]["answer"],
        )
        for q in ids
    ]
    model = judge_model(cfg)

    opened = []  # the judge opens its backend only when a verdict is not cached

    def backend():
        opened.append(
            open_backend(
                j.backend,
                model,
                cfg.model.dtype,
                cfg.model.device,
                cfg.evaluate.batch_size,
                server=j.server,
                engine=j.vllm,
            )
        )
        return opened[-1]

    # Verdicts are cached per judge: the same weights through vLLM are another judge (other kernels, other bits).
    fingerprint = model.fingerprint if j.backend == "hf" else f"{j.backend}:{model.fingerprint}"
    judge = PairwiseJudge(backend, fingerprint, j.max_new_tokens)
    try:
        verdicts = judge.verdicts(comparisons)
    finally:
        for b in opened:
            b.close()
    usage = usage_entry(j.backend, model.name, opened[0].usage if opened else None, j.server)
    stats = judge_statistics(comparisons, verdicts)
    metrics = [
        interval_row("judge", name, [float(v["outcome"] == who) for v in verdicts], cfg)
        for name, who in (("trained_win", "trained"), ("base_win", "base"), ("tie", "tie"))
    ]
    for name in ("position_flip_rate", "first_position_rate", "longer_answer_preferred", "invalid_verdicts"):
        value = float(stats[name])
        metrics.append(
            {"model": "judge", "metric": name, "value": value, "ci_low": None, "ci_high": None, "n": len(ids)}
        )
    return verdicts, metrics, judge.asked, usage


def scorer_id(store: ArtifactStore, plan: StagePlan) -> str:
    scores = plan.parent("score")
    return str(store.manifest(scores.stage, scores.key).get("scorer", {}).get("id", "scorer"))


def json_safe(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """NaN (an undefined AUROC, an empty subset) as null, so the manifest stays strict JSON."""
    return [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()} for r in rows]


def run(
    cfg: RunConfig,
    plan: StagePlan,
    store: ArtifactStore,
    run_info: RunInfo,
    log: Callable[[str], None] = print,
) -> ArtifactRef:
    def compute(writer):
        held_out = sorted(
            (a for a in store.read_rows(plan.parent("answers")) if a["split"] == "test"), key=lambda a: a["question_id"]
        )
        if not held_out:
            raise StageInputError("no held-out questions: raise ingest.test_fraction or add documents")
        passages = {c["chunk_id"]: c["text"] for c in store.read_rows(plan.parent("chunk"))}
        s_k = {s["answer_id"]: s["s_k"] for s in store.read_rows(plan.parent("score"))}
        base = resolve_model(cfg.model.name, cfg.model.revision)
        answers: dict[str, list[str]] = {}
        with tempfile.TemporaryDirectory(prefix="selftrain-eval-") as tmp:
            train_ref = plan.parent("train")
            checkpoint = trained_checkpoint(store, train_ref)
            folder = f"{tmp}/{checkpoint['path']}"
            store.fs.get(f"{store.dir(train_ref.stage, train_ref.key)}/{checkpoint['path']}", folder, recursive=True)
            no_doc = answer_requests(cfg, held_out, None)
            answers["base"] = greedy_answers(cfg, no_doc, base, None, "base")
            if checkpoint["kind"] == "full":
                full = ResolvedModel("trained", folder, train_ref.key, "local")
                answers["trained"] = greedy_answers(cfg, no_doc, full, None, "trained")
            else:
                answers["trained"] = greedy_answers(cfg, no_doc, base, folder, "trained")
            if cfg.model.adapter:
                answers["previous"] = greedy_answers(cfg, no_doc, base, cfg.model.adapter, "previous")
        if cfg.evaluate.with_document:
            with_doc = answer_requests(cfg, held_out, passages)
            answers["base+document"] = greedy_answers(cfg, with_doc, base, None, "base+document")
        support_fn = support_of(cfg)
        documents = [passages[q["chunk_id"]] for q in held_out]
        rows = []
        for label, texts in answers.items():
            support = support_fn(texts, documents)
            for item, answer, sup in zip(held_out, texts, support, strict=True):
                f1 = token_f1(answer, item["reference"])
                rows.append(
                    {
                        "question_id": item["question_id"],
                        "answer_id": item["answer_id"],
                        "model": label,
                        "question": item["question"],
                        "reference": item["reference"],
                        "answer": answer,
                        "f1": f1,
                        "containment": containment(answer, item["reference"]),
                        "correct": float(f1 >= cfg.evaluate.correct_f1),
                        "support": sup,
                        "hallucinated": float(sup < cfg.evaluate.hallucination_threshold),
                        "s_k": s_k.get(item["answer_id"], float("nan")),
                    }
                )
        metrics = summarise(rows, list(answers), cfg)
        verdicts, asked, usage = [], 0, {}
        if cfg.evaluate.judge.enabled:
            verdicts, judge_metrics, asked, usage["judge"] = judge_rows(cfg, rows)
            metrics += judge_metrics
        base_rows = [r for r in rows if r["model"] == "base"]
        known = [bool(r["correct"]) for r in base_rows]
        figures = {
            "scores.png": plots.score_histogram([r["s_k"] for r in base_rows], known, scorer_id(store, plan)),
            "reliability.png": plots.reliability_curve([r["s_k"] for r in base_rows], known),
            "models.png": plots.model_bars(metrics, list(answers), SHORT_LABELS),
        }
        writer.write_table("data", pa.Table.from_pylist(rows, schema=ROW_SCHEMA))
        writer.write_table("metrics", pa.Table.from_pylist(metrics, schema=METRIC_SCHEMA))
        writer.write_table("judge", pa.Table.from_pylist(verdicts, schema=JUDGE_SCHEMA))
        for name, png in figures.items():
            writer.write_bytes(f"plots/{name}", png)
        writer.write_bytes("report.md", render_report(metrics, cfg, list(figures)).encode("utf-8"))
        return {
            "metrics": json_safe(metrics),
            "held_out_questions": len(held_out),
            "judge_verdicts_asked": asked,
            "usage": usage,
        }

    return execute(plan, store, run_info, compute, log)
