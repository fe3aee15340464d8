"""Stage evaluate: evaluation sets -> base and trained answers, graded, with paired intervals, a judge, a report.

The sets (evaluation/sets.py; `evaluate.sets`): held_out (held-out documents), train_new (new questions about the
training documents), known (retention), gold_train and gold_held_out (gold questions graded without any model).
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
import tempfile
from collections import Counter
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
from selftrain_core.evaluation.cards import write_cards
from selftrain_core.evaluation.gold import content_words
from selftrain_core.evaluation.grading import ROW_SCHEMA, grade
from selftrain_core.evaluation.grounding import document_support, lexical_support, nli_support
from selftrain_core.evaluation.judge import PROMPT_ID as JUDGE_PROMPT
from selftrain_core.evaluation.judge import Comparison, PairwiseJudge, judge_statistics
from selftrain_core.evaluation.new_questions import duplicates, write_questions
from selftrain_core.evaluation.report import render_report
from selftrain_core.evaluation.sets import answer_items, capped, gold_items, is_known, item, keep_documents
from selftrain_core.evaluation.summary import metric_row, summarise
from selftrain_core.models.loading import load_embedder
from selftrain_core.models.resolve import ResolvedModel, resolve_model
from selftrain_core.prompts import load_prompt
from selftrain_core.stages.answers import policy_models
from selftrain_core.stages.base import RunInfo, StagePlan, execute, make_plan
from selftrain_core.stages.questions import generator_model
from selftrain_core.stages.train import trained_checkpoint
from selftrain_core.store import ArtifactRef, ArtifactStore

STAGE, VERSION = "evaluate", 5

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
    if not arms or reserved & set(arms) or any("-" in a or ":" in a for a in arms):
        raise StageInputError(f"arm names must be new names without '-' or ':', got {sorted(arms)}")
    return arms


def judge_model(cfg: RunConfig) -> ResolvedModel | ServedModel:
    j = cfg.evaluate.judge
    return stage_model(j.backend, j.server, j.model or cfg.model.name, j.revision if j.model else cfg.model.revision)


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
        "dtype": cfg.model.dtype,
        "arms": list(arms),
        # the method's rule for "known" picks the known set
        "known_rule": {k: getattr(cfg.curate, k) for k in ("answerable_threshold", "known_threshold")},
    }
    if e.with_document or "train_new" in e.sets:
        prompts.append(load_prompt(cfg.answers.with_document_prompt).manifest_entry())
    if "train_new" in e.sets:
        models.append(generator_model(cfg).manifest_entry("question_writer"))
        prompts.append(load_prompt(e.question_prompt).manifest_entry())
        settings["questions"] = result_settings(cfg.questions)
    if e.judge.enabled:
        models.append(judge_model(cfg).manifest_entry("judge"))
        prompts.append(load_prompt(JUDGE_PROMPT).manifest_entry())
    return make_plan(
        STAGE,
        VERSION,
        settings,
        [*arms.values(), answers, scores, chunks],
        models,
        prompts,
        runtime={"batch_size": e.batch_size, "device": cfg.model.device},
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


def request(cfg: RunConfig, it: dict[str, Any], with_document: bool = False) -> ChatRequest:
    if with_document:
        prompt = load_prompt(cfg.answers.with_document_prompt)
        messages = prompt.messages(title=it["title"], passage=it["document"], question=it["question"])
    else:
        messages = load_prompt(cfg.answers.without_document_prompt).messages(question=it["question"])
    return ChatRequest(
        request_id=f"{it['set']}/{it['question_id']}",
        messages=messages,
        temperature=0.0,
        max_tokens=cfg.evaluate.max_new_tokens,
        logprobs=False,
    )


def answer_all(cfg: RunConfig, model: ResolvedModel, adapter: str | None, label: str, batches: list[list[ChatRequest]]):
    """Greedy texts for each batch of requests, from one opened backend (one engine's memory at a time)."""
    e = cfg.evaluate
    with tqdm(total=sum(map(len, batches)), desc=f"evaluate {label}", unit="question") as bar:
        backend = open_backend(
            e.backend, model, cfg.model.dtype, cfg.model.device, e.batch_size, adapter, bar.update, engine=e.vllm
        )
        try:
            return [[r.completions[0].text for r in backend.generate(b)] if b else [] for b in batches]
        finally:
            backend.close()


def build_items(cfg: RunConfig, store: ArtifactStore, plan: StagePlan, embedder) -> tuple[list[dict], Counter]:
    """Every evaluation item of the configured sets (train_new without references yet), and drops by reason."""
    e, drops = cfg.evaluate, Counter()
    answers = store.read_rows(plan.parent("answers"))
    chunks = store.read_rows(plan.parent("chunk"))
    passages = {c["chunk_id"]: c["text"] for c in chunks}
    doc_of = {c["chunk_id"]: c["doc_id"] for c in chunks}
    scores = {s["answer_id"]: s for s in store.read_rows(plan.parent("score"))}
    trained_questions = [a["question"] for a in answers if a["split"] == "train"]
    sets: dict[str, list[dict]] = {}
    if "held_out" in e.sets:
        held_out = [a for a in answers if a["split"] == "test"]
        sets["held_out"] = answer_items("held_out", held_out, passages, doc_of, scores)
    if "known" in e.sets:
        known = [a for a in answers if a["split"] == "train" and is_known(scores.get(a["answer_id"]), cfg.curate)]
        sets["known"] = answer_items("known", known, passages, doc_of, scores)
    if "train_new" in e.sets:
        train_chunks = keep_documents((c for c in chunks if c["split"] == "train"), e.documents, cfg.seed)
        limit = 2 * e.max_questions_per_set if e.max_questions_per_set else None  # room for the filters' drops
        train_chunks = capped([{**c, "set": "train_new", "question_id": c["chunk_id"]} for c in train_chunks], limit, 0)
        written, filtered = write_questions(cfg, train_chunks)
        drops.update({f"train_new:{k}": v for k, v in filtered.items()})
        titles = {c["chunk_id"]: c["title"] for c in chunks}
        sets["train_new"] = [
            item("train_new", q["question_id"], q["doc_id"], q["chunk_id"], q["question"], title=titles[q["chunk_id"]],
                 document=passages[q["chunk_id"]])
            for q in written
        ]  # fmt: skip
    documents = store.read_rows(ingest_ref(store, plan))
    for name, split in (("gold_train", "train"), ("gold_held_out", "test")):
        if name in e.sets:
            gradable = [i for i in gold_items(documents, split) if content_words(i["gold"])]
            drops[f"{name}:ungradable"] += len(gold_items(documents, split)) - len(gradable)
            sets[name] = gradable
    for name in ("train_new", "gold_train"):  # questions about trained documents: never a trained question
        if name in sets:
            found = duplicates(
                [i["question"] for i in sets[name]],
                trained_questions,
                cfg.questions.near_duplicate_jaccard,
                e.dedupe_cosine,
                embedder() if e.dedupe_cosine is not None else None,
            )
            drops.update(f"{name}:{r}" for r in found if r)
            sets[name] = [i for i, r in zip(sets[name], found, strict=True) if r is None]
    items = []
    for name in e.sets:
        items += capped(keep_documents(sets.get(name, []), e.documents, cfg.seed), e.max_questions_per_set, cfg.seed)
    return items, +drops


def ingest_ref(store: ArtifactStore, plan: StagePlan) -> ArtifactRef:
    chunk = plan.parent("chunk")
    parents = store.manifest(chunk.stage, chunk.key)["parents"]
    return next(ArtifactRef(**p) for p in parents if p["stage"] == "ingest")


def judge_rows(cfg: RunConfig, rows: list[dict[str, Any]], arms: list[str]):
    """(verdict rows, metric rows, verdicts asked this run, the judge's token usage), each arm against base."""
    j = cfg.evaluate.judge
    answer = {(r["set"], r["question_id"], r["model"]): r for r in rows}
    keys = sorted({(r["set"], r["question_id"]) for r in rows if r["set"] in j.sets})
    model, opened = judge_model(cfg), []

    def backend():  # opened only when a verdict is not cached
        e = cfg.evaluate
        opened.append(
            open_backend(
                j.backend, model, cfg.model.dtype, cfg.model.device, e.batch_size, server=j.server, engine=j.vllm
            )
        )
        return opened[-1]

    # Verdicts are cached per judge: the same weights through vLLM are another judge (other kernels, other bits).
    fingerprint = model.fingerprint if j.backend == "hf" else f"{j.backend}:{model.fingerprint}"
    judge = PairwiseJudge(backend, fingerprint, j.max_new_tokens)
    verdicts, metrics = [], []
    try:
        for arm in arms:
            for set_name in dict.fromkeys(s for s, _ in keys):
                ids = [q for s, q in keys if s == set_name]
                comparisons = []
                for q in ids:
                    base = answer[(set_name, q, "base")]
                    target = base["gold_answer"] if base["gold_answer"] is not None else base["reference"]
                    mine = answer[(set_name, q, arm)]["answer"]
                    comparisons.append(Comparison(q, base["question"], target, base["answer"], mine))
                found = judge.verdicts(comparisons)
                verdicts += [{"set": set_name, "arm": arm, **v} for v in found]
                name = f"judge:{arm}"
                for metric, who in (("win", "trained"), ("loss", "base"), ("tie", "tie")):
                    values = [float(v["outcome"] == who) for v in found]
                    metrics.append(metric_row(set_name, name, metric, values, cfg.evaluate, cfg.seed))
                stats = judge_statistics(comparisons, found)
                for metric in ("position_flip_rate", "first_position_rate", "longer_answer_preferred"):
                    metrics.append(fixed(set_name, name, metric, stats[metric], len(ids)))
                metrics.append(fixed(set_name, name, "invalid_verdicts", float(stats["invalid_verdicts"]), len(ids)))
    finally:
        for b in opened:
            b.close()
    usage = usage_entry(j.backend, model.name, opened[0].usage if opened else None, j.server)
    return verdicts, metrics, judge.asked, usage


def fixed(set_name: str, model: str, metric: str, value: float, n: int) -> dict[str, Any]:
    """A metric row without an interval (a count or a rate over decisive verdicts only)."""
    return {"set": set_name, "model": model, "metric": metric, "value": value, "ci_low": None, "ci_high": None,
            "n": n, "interval": "none"}  # fmt: skip


def scorer_id(store: ArtifactStore, plan: StagePlan) -> str:
    scores = plan.parent("score")
    return str(store.manifest(scores.stage, scores.key).get("scorer", {}).get("id", "scorer"))


def json_safe(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """NaN (an undefined AUROC, an empty subset) as null, so the manifest stays strict JSON."""
    return [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()} for r in rows]


def arm_answers(cfg: RunConfig, store: ArtifactStore, plan: StagePlan, requests: list[ChatRequest]):
    """{arm: greedy answers} for every trained arm (and the previous round's model), each opened in turn."""
    base = resolve_model(cfg.model.name, cfg.model.revision)
    out: dict[str, list[str]] = {}
    train_refs = [p for p in plan.parents if p.stage == "train"]
    with tempfile.TemporaryDirectory(prefix="selftrain-eval-") as tmp:
        for arm, ref in zip(plan.settings["arms"], train_refs, strict=True):
            checkpoint = trained_checkpoint(store, ref)
            folder = f"{tmp}/{arm}/{checkpoint['path']}"
            store.fs.get(f"{store.dir(ref.stage, ref.key)}/{checkpoint['path']}", folder, recursive=True)
            if checkpoint["kind"] == "full":
                full = ResolvedModel(arm, folder, ref.key, "local")
                out[arm] = answer_all(cfg, full, None, arm, [requests])[0]
            else:
                out[arm] = answer_all(cfg, base, folder, arm, [requests])[0]
    if cfg.model.adapter:
        out["previous"] = answer_all(cfg, base, cfg.model.adapter, "previous", [requests])[0]
    return out


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
        items, drops = build_items(cfg, store, plan, embedder)
        if not items:
            raise StageInputError(
                f"no evaluation questions in the sets {e.sets} (documents: {e.documents}): raise "
                "ingest.test_fraction, add documents, or choose other evaluate.sets"
            )
        base = resolve_model(cfg.model.name, cfg.model.revision)
        new = [i for i in items if i["reference"] is None and i["gold"] is None]  # train_new: grounded references
        batches = [[request(cfg, i, with_document=True) for i in new], [request(cfg, i) for i in items]]
        if e.with_document:
            batches.append([request(cfg, i, with_document=True) for i in items])
        done = answer_all(cfg, base, None, "base", batches)
        for it, reference in zip(new, done[0], strict=True):
            it["reference"] = reference
        answers = {"base": done[1], **arm_answers(cfg, store, plan, batches[1])}
        if e.with_document:
            answers["base+document"] = done[2]
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
        }

    return execute(plan, store, run_info, compute, log)
