"""Stage evaluate: evaluation sets -> base and trained answers, graded, with paired intervals, a judge, a report.

The sets (evaluation/sets.py; `evaluate.sets`): held_out (held-out documents), train_new (new questions about the
training documents), known (retention), gold_train and gold_held_out (gold questions graded without any model),
and with `evaluate.suite` the set `suite` (an exported regression suite's questions, graded by its references).
The base and every trained arm answer each set greedily without the document (with `evaluate.with_document` the
base with it too; from round 2 on, the previous round's model as well). An arm is one train artifact: the flow
evaluates one ("trained"); `selftrain experiment` evaluates several (method, no filtering, SFT only) on the same
questions. Per answer (evaluation/grading.py): F1 or gold grade, correct, abstained, wrong, document support,
hallucinated. Across questions (evaluation/summary.py): per set and model, means with bootstrap intervals; per arm,
paired differences against base; retention; the scorer's AUROC; a pairwise judge per arm in both orders.
Files: tables `data` (one row per set, question and model), `metrics` (set, model, metric, value, ci_low, ci_high,
n, interval), `judge` (verdicts with the judge's raw replies); `report.md`, `plots/*.png`, `cards/<arm>/README.md`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from selftrain_core.backends.settings import GenerationSettings
from selftrain_core.config import RunConfig
from selftrain_core.config.base import result_settings, runtime_settings
from selftrain_core.config.signature import run_signature
from selftrain_core.errors import StageInputError
from selftrain_core.export.suite import read_suite
from selftrain_core.models.loading import load_embedder
from selftrain_core.models.resolve import ResolvedModel, resolve_model
from selftrain_core.prompts import load_prompt
from selftrain_core.stages.answers.stage import policy_models
from selftrain_core.stages.base import RunInfo, StagePlan, execute, make_plan
from selftrain_core.stages.evaluate import plots
from selftrain_core.stages.evaluate.agreement import agreement_rows
from selftrain_core.stages.evaluate.answering import arm_answers, base_answers, request
from selftrain_core.stages.evaluate.cards import write_cards
from selftrain_core.stages.evaluate.collect import build_items
from selftrain_core.stages.evaluate.generation import Generation
from selftrain_core.stages.evaluate.grading import ROW_SCHEMA, grade
from selftrain_core.stages.evaluate.grounding import document_support, lexical_support, nli_support
from selftrain_core.stages.evaluate.judge import prompt_id as judge_prompt_id
from selftrain_core.stages.evaluate.judging import judge_model, judge_rows
from selftrain_core.stages.evaluate.report import render_report
from selftrain_core.stages.evaluate.summary import summarise
from selftrain_core.stages.questions.stage import generator_model
from selftrain_core.store import ArtifactRef, ArtifactStore

STAGE, VERSION = "evaluate", 6  # 6: sampled new questions draw with the new hf sampler

METRIC_SCHEMA = pa.schema(
    [
        ("set", pa.string()),
        ("model", pa.string()),
        ("metric", pa.string()),
        ("value", pa.float64()),
        ("ci_low", pa.float64()),
        ("ci_high", pa.float64()),
        ("n", pa.int64()),
        ("interval", pa.string()),
    ]
)
JUDGE_SCHEMA = pa.schema(
    [
        ("set", pa.string()),
        ("arm", pa.string()),
        ("question_id", pa.string()),
        ("base_first", pa.string()),
        ("trained_first", pa.string()),
        ("base_first_raw", pa.string()),
        ("trained_first_raw", pa.string()),
        ("outcome", pa.string()),
    ]
)


def arms_of(trained: ArtifactRef | dict[str, ArtifactRef]) -> dict[str, ArtifactRef]:
    """The trained arms by name: one train artifact is the arm 'trained'."""
    arms = trained if isinstance(trained, dict) else {"trained": trained}
    reserved = {"base", "previous", "base+document", "scorer"}
    if not arms or reserved & set(arms) or not all(re.fullmatch(r"[A-Za-z0-9_]+", a) for a in arms):
        raise StageInputError(f"arm names must be new names of letters, digits and '_', got {sorted(arms)}")
    return arms


def plan(
    cfg: RunConfig,
    trained: ArtifactRef | dict[str, ArtifactRef],
    answers: ArtifactRef,
    scores: ArtifactRef,
    chunks: ArtifactRef,
) -> StagePlan:
    e, arms = cfg.evaluate, arms_of(trained)
    base = resolve_model(cfg.model.name, cfg.model.revision)
    models = [base.manifest_entry("base"), resolve_model(cfg.embedder.name, kind="embedder").manifest_entry("embedder")]
    if e.hallucination_check == "nli":
        models.append(nli_model(cfg).manifest_entry("hallucination_nli"))
    if cfg.model.adapter:  # rounds 2+: the previous round's model is compared too
        models.append({**policy_models(cfg)[1], "role": "previous"})
    prompts = [load_prompt(cfg.answers.without_document_prompt).manifest_entry()]
    settings = {
        "evaluate": result_settings(e),
        "seed": cfg.seed,
        "dtype": GenerationSettings.for_evaluate(cfg).dtype,  # what its answers load (a trained model's dtype)
        "arms": list(arms),
        # the method's rule for "known" picks the known set
        "known_rule": {k: getattr(cfg.curate, k) for k in ("answerable_threshold", "known_threshold")},
    }
    if e.suite:  # the suite's content, not where it lies, is what the results depend on
        settings["evaluate"]["suite"] = read_suite(e.suite)[0]["version"]
    if e.with_document or "train_new" in e.sets:
        prompts.append(load_prompt(cfg.answers.with_document_prompt).manifest_entry())
    if "train_new" in e.sets:
        models.append(generator_model(cfg).manifest_entry("question_writer"))
        prompts.append(load_prompt(e.question_prompt).manifest_entry())
        settings["questions"] = result_settings(cfg.questions)
    if e.judge.enabled:
        models.append(judge_model(cfg).manifest_entry("judge"))
        prompts.append(load_prompt(judge_prompt_id(e.judge.scoring)).manifest_entry())
    return make_plan(
        STAGE,
        VERSION,
        settings,
        [*arms.values(), answers, scores, chunks],
        models,
        prompts,
        runtime=runtime_settings(e) | {"device": cfg.model.device} | ({"suite_path": e.suite} if e.suite else {}),
    )


def nli_model(cfg: RunConfig) -> ResolvedModel:
    return resolve_model(cfg.score.nli.name, cfg.score.nli.revision, kind="nli")


def support_of(cfg: RunConfig, embedder):
    """answers, documents -> support scores, by the configured check (a model loads once)."""
    if cfg.evaluate.hallucination_check == "nli":
        from selftrain_core.models.loading import pick_device
        from selftrain_core.scorers.nli import NLIModel

        n = cfg.score.nli
        nli = NLIModel.load(nli_model(cfg).path, pick_device(cfg.model.device), n.batch_size, n.max_length)
        return lambda texts, documents: nli_support(nli, texts, documents)
    if cfg.evaluate.hallucination_check == "embedding":
        return lambda texts, documents: document_support(embedder(), texts, documents, cfg.embedder.batch_size)
    return lexical_support


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
    e, arms = cfg.evaluate, list(plan.settings["arms"])
    loaded = []

    def embedder():
        if not loaded:
            loaded.append(load_embedder(resolve_model(cfg.embedder.name, kind="embedder"), cfg.model.device))
        return loaded[0]

    def compute(writer):
        generation = Generation(writer, e.shard_size, log)
        items, drops = build_items(cfg, store, plan, embedder, generation)
        if not items:  # a user's choice of sets: the new questions written for them are of no use to a rerun
            writer.abort()
            raise StageInputError(
                f"no evaluation questions in the sets {e.sets} (documents: {e.documents}): raise "
                "ingest.test_fraction, add documents, or choose other evaluate.sets"
            )
        new = [i for i in items if i["reference"] is None and i["gold"] is None]  # train_new: grounded references
        batches = {
            "reference": [request(cfg, i, with_document=True, kind="reference") for i in new],
            "without": [request(cfg, i, kind="without") for i in items],
        }
        if e.with_document:
            batches["with"] = [request(cfg, i, with_document=True, kind="with") for i in items]
        done = base_answers(cfg, generation, batches)
        for it, reference in zip(new, done["reference"], strict=True):
            it["reference"] = reference
        answers = {"base": done["without"], **arm_answers(cfg, store, plan, generation, batches["without"])}
        if e.with_document:
            answers["base+document"] = done["with"]
        support = support_of(cfg, embedder)
        documents = [i["document"] for i in items]
        rows = []
        for label, texts in answers.items():
            for it, text, sup in zip(items, texts, support(texts, documents), strict=True):
                rows.append(grade(it, label, text, sup, e))
        models = list(answers)
        metrics = summarise(rows, models, arms, e, cfg.seed)
        verdicts, asked, usage = [], 0, {}
        if e.judge.enabled:
            verdicts, judge_metrics, asked, usage["judge"] = judge_rows(cfg, rows, arms)
            metrics += judge_metrics
            metrics += agreement_rows(
                rows, verdicts, cfg.curate.known_threshold, e.bootstrap_samples, e.confidence, cfg.seed
            )
        held = [r for r in rows if r["model"] == "base" and not math.isnan(r["s_k"])]
        known = [bool(r["correct"]) for r in held]
        figures = {
            "sets.png": plots.set_bars(metrics, models),
            "scores.png": plots.score_histogram([r["s_k"] for r in held], known, scorer_id(store, plan)),
            "reliability.png": plots.reliability_curve([r["s_k"] for r in held], known),
        }
        counts = dict(Counter(i["set"] for i in items))
        notes = [f"questions per set: {counts}"] + ([f"dropped before evaluation: {dict(drops)}"] if drops else [])
        writer.write_table("data", pa.Table.from_pylist(rows, schema=ROW_SCHEMA))
        writer.write_table("metrics", pa.Table.from_pylist(metrics, schema=METRIC_SCHEMA))
        writer.write_table("judge", pa.Table.from_pylist(verdicts, schema=JUDGE_SCHEMA))
        for name, png in figures.items():
            writer.write_bytes(f"plots/{name}", png)
        writer.write_bytes("report.md", render_report(metrics, cfg, models, arms, list(figures), notes).encode("utf-8"))
        write_cards(writer, store, plan, cfg, metrics)
        return {
            "metrics": json_safe(metrics),
            "questions": counts,
            "drops": dict(drops),
            "judge_verdicts_asked": asked,
            "usage": usage,
            "run_signature": run_signature(cfg),  # which run this evaluates, for scheduled retraining
            **generation.manifest(),
        }

    return execute(plan, store, run_info, compute, log)
