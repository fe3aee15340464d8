"""Stage evaluate: held-out questions -> base vs trained answers without the document, and metrics with CIs.

Held-out questions come from held-out documents (split=test), never seen in training. Both models answer
greedily without the document. Per answer: token F1 and containment against the grounded reference, and the
scorer's agreement with the reference (an answer below `hallucination_threshold` counts as a hallucination).
Tables: `data` (question_id, model, answer, f1, containment, agreement, hallucinated), `metrics` (model, metric,
value, ci_low, ci_high, n; model "trained-base" holds paired differences) and `report.md`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from tqdm.auto import tqdm

from selftrain_core.backends.base import ChatRequest
from selftrain_core.backends.loading import open_backend
from selftrain_core.config import RunConfig
from selftrain_core.config_base import result_settings
from selftrain_core.errors import StageInputError
from selftrain_core.evaluation.metrics import bootstrap_ci, containment, token_f1
from selftrain_core.evaluation.report import render_report
from selftrain_core.models.resolve import resolve_model
from selftrain_core.prompts import load_prompt
from selftrain_core.stages.base import RunInfo, StagePlan, execute, make_plan
from selftrain_core.stages.score import open_scorer
from selftrain_core.stages.train import trained_checkpoint
from selftrain_core.store import ArtifactRef, ArtifactStore

STAGE, VERSION = "evaluate", 2
METRICS = ("f1", "containment", "hallucinated")

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
        ("agreement", pa.float64()),
        ("hallucinated", pa.float64()),
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


def plan(cfg: RunConfig, trained: ArtifactRef, answers: ArtifactRef) -> StagePlan:
    base = resolve_model(cfg.model.name, cfg.model.revision)
    embedder = resolve_model(cfg.embedder.name, kind="embedder")
    settings = {
        "evaluate": result_settings(cfg.evaluate),
        "score": result_settings(cfg.score),
        "seed": cfg.seed,
        "dtype": cfg.model.dtype,
    }
    prompt = load_prompt(cfg.answers.without_document_prompt)
    return make_plan(
        STAGE,
        VERSION,
        settings,
        [trained, answers],
        [base.manifest_entry("base"), embedder.manifest_entry("embedder")],
        [prompt.manifest_entry()],
        runtime={"batch_size": cfg.evaluate.batch_size, "device": cfg.model.device},
    )


def greedy_answers(cfg: RunConfig, questions: list[dict[str, Any]], adapter: str | None, label: str) -> list[str]:
    prompt = load_prompt(cfg.answers.without_document_prompt)
    requests = [
        ChatRequest(
            q["question_id"],
            prompt.messages(question=q["question"]),
            1,
            0.0,
            1.0,
            cfg.evaluate.max_new_tokens,
        )
        for q in questions
    ]
    model = resolve_model(cfg.model.name, cfg.model.revision)
    with tqdm(total=len(requests), desc=f"evaluate {label}", unit="question") as bar:
        backend = open_backend(
            "hf", model, cfg.model.dtype, cfg.model.device, cfg.evaluate.batch_size, adapter, bar.update
        )
        return [r.completions[0].text for r in backend.generate(requests)]


def summarise(rows: list[dict[str, Any]], models: list[str], cfg: RunConfig) -> list[dict[str, Any]]:
    e = cfg.evaluate
    out = []
    by_model = {m: sorted((r for r in rows if r["model"] == m), key=lambda r: r["question_id"]) for m in models}
    for model in models:
        for metric in METRICS:
            values = [r[metric] for r in by_model[model]]
            mean, low, high = bootstrap_ci(values, e.bootstrap_samples, e.confidence, cfg.seed)
            out.append(
                {
                    "model": model,
                    "metric": metric,
                    "value": mean,
                    "ci_low": low,
                    "ci_high": high,
                    "n": len(values),
                }
            )
    if len(models) == 2:
        first, second = models
        for metric in METRICS:
            diffs = [b[metric] - a[metric] for a, b in zip(by_model[first], by_model[second], strict=True)]
            mean, low, high = bootstrap_ci(diffs, e.bootstrap_samples, e.confidence, cfg.seed)
            out.append(
                {
                    "model": f"{second}-{first}",
                    "metric": metric,
                    "value": mean,
                    "ci_low": low,
                    "ci_high": high,
                    "n": len(diffs),
                }
            )
    return out


def local_copy(store: ArtifactStore, ref: ArtifactRef, rel: str, into: str) -> str:
    """A local folder with the artifact's `rel` files (a no-op copy for local stores is cheap at adapter size)."""
    store.fs.get(f"{store.dir(ref.stage, ref.key)}/{rel}", f"{into}/{rel}", recursive=True)
    return f"{into}/{rel}"


def run(
    cfg: RunConfig,
    plan: StagePlan,
    store: ArtifactStore,
    run_info: RunInfo,
    log: Callable[[str], None] = print,
) -> ArtifactRef:
    def compute(writer):
        held_out = [a for a in store.read_rows(plan.parent("answers")) if a["split"] == "test"]
        if not held_out:
            raise StageInputError("no held-out questions: raise ingest.test_fraction or add documents")
        held_out.sort(key=lambda a: a["question_id"])
        scorer = open_scorer(cfg)
        rows = []
        with tempfile.TemporaryDirectory(prefix="selftrain-eval-") as tmp:
            checkpoint = trained_checkpoint(store, plan.parent("train"))
            trained_path = local_copy(store, plan.parent("train"), checkpoint["path"], tmp)
            for label, path in (("base", None), ("trained", trained_path)):
                answers = greedy_answers(cfg, held_out, path, label)
                agreement = scorer.score_many([a["reference"] for a in held_out], [[x] for x in answers])
                for item, answer, (agree,) in zip(held_out, answers, agreement, strict=True):
                    rows.append(
                        {
                            "question_id": item["question_id"],
                            "answer_id": item["answer_id"],
                            "model": label,
                            "question": item["question"],
                            "reference": item["reference"],
                            "answer": answer,
                            "f1": token_f1(answer, item["reference"]),
                            "containment": containment(answer, item["reference"]),
                            "agreement": agree,
                            "hallucinated": float(agree < cfg.evaluate.hallucination_threshold),
                        }
                    )
        metrics = summarise(rows, ["base", "trained"], cfg)
        writer.write_table("data", pa.Table.from_pylist(rows, schema=ROW_SCHEMA))
        writer.write_table("metrics", pa.Table.from_pylist(metrics, schema=METRIC_SCHEMA))
        writer.write_bytes("report.md", render_report(metrics, cfg).encode("utf-8"))
        return {"metrics": metrics, "held_out_questions": len(held_out)}

    return execute(plan, store, run_info, compute, log)
