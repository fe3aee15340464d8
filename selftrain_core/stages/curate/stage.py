"""Stage curate: scores (+ answers) -> DPO pairs and SFT rows for what the model does not know.

Train-split questions only, through the strategy `curate.strategy` names (strategies.py): knowledge-detection
(pairs.py, the default), rejection-sampling, confident-preference, self-rewarding, inner-knowledge,
sft-references. Tables:
- data: one row per DPO pair: pair_id, score_id, answer_id, question_id, prompt / chosen / rejected (TRL
  conversational lists of {role, content}; the prompt is the no-document prompt), s_l, s_k, chosen_score
  (null for the reference), rejected_score, label, strategy, pair_index, chosen_sample_index /
  rejected_sample_index (which of the answer's no-document samples, null for the reference). inner-knowledge: the
  prompt is the explicitation prompt, chosen / rejected are explicit samples (their indices among the explicit
  samples), and their scores are the document's support.
- sft: one row per trained answer: sft_id, score_id, answer_id, question_id, sample_index (the no-document
  sample trained on, or the explicit one for inner-knowledge; null for the reference), s_l, s_k, label,
  messages (prompt + answer). knowledge-detection: the reference of each trained question (unknown, or known
  with curate.knowledge_filter off; answerable).
- rejected: one row per question that gave no pair (an SFT-only strategy: no SFT row either), with its reason
  (non_finite_score, empty_reference, unanswerable, known, empty_samples, chosen_equals_rejected, length_gap,
  too_few_samples, no_score_gap, over_budget, no_sample_accepted, no_confident_sample, no_contradicting_sample,
  no_explicitation, no_verified_explicitation, no_unverified_explicitation).
  A question whose S_K is NaN or infinite is labelled `unscored`.
- rejected_samples (rejection-sampling only): one row per own sample not trained on, of the questions past the
  gate: score_id, answer_id, question_id, sample_index, score, text, reason (rejection_sampling.py lists them).
With curate.max_questions set, only that many questions keep pairs and SFT rows, picked by a seeded hash of the
question id (selftrain_core/stages/curate/budget.py); the rest are rejected as over_budget.
The manifest records the gate's thresholds, the strategy with every other setting (its own thresholds too), drops
per reason, labels and counts (with a budget: eligible questions and those over budget). The key holds the
settings that change results; a strategy other than the default keys every setting of its own, defaults included.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from selftrain_core.config import RunConfig
from selftrain_core.config.base import result_settings
from selftrain_core.errors import StageInputError
from selftrain_core.hashing import stable_hash
from selftrain_core.prompts import load_prompt
from selftrain_core.stages.answers import stage as answers_stage
from selftrain_core.stages.base import RunInfo, StagePlan, execute, make_plan
from selftrain_core.stages.curate.budget import apply_budget
from selftrain_core.stages.curate.config import CurateConfig
from selftrain_core.stages.curate.strategies import SFT_ONLY, curate_with
from selftrain_core.store import ArtifactRef, ArtifactStore

STAGE, VERSION = "curate", 4
GATE_THRESHOLDS = ("answerable_threshold", "known_threshold")  # the shared gate's; the manifest's `thresholds`

_MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
PAIR_SCHEMA = pa.schema(
    [
        ("pair_id", pa.string()),
        ("score_id", pa.string()),
        ("answer_id", pa.string()),
        ("question_id", pa.string()),
        ("prompt", _MESSAGES),
        ("chosen", _MESSAGES),
        ("rejected", _MESSAGES),
        ("s_l", pa.float64()),
        ("s_k", pa.float64()),
        ("chosen_score", pa.float64()),
        ("rejected_score", pa.float64()),
        ("label", pa.string()),
        ("strategy", pa.string()),
        ("pair_index", pa.int32()),
        ("chosen_sample_index", pa.int32()),
        ("rejected_sample_index", pa.int32()),
    ]
)
SFT_SCHEMA = pa.schema(
    [
        ("sft_id", pa.string()),
        ("score_id", pa.string()),
        ("answer_id", pa.string()),
        ("question_id", pa.string()),
        ("sample_index", pa.int32()),
        ("s_l", pa.float64()),
        ("s_k", pa.float64()),
        ("label", pa.string()),
        ("messages", _MESSAGES),
    ]
)
SAMPLE_REJECTED_SCHEMA = pa.schema(
    [
        ("score_id", pa.string()),
        ("answer_id", pa.string()),
        ("question_id", pa.string()),
        ("sample_index", pa.int32()),
        ("score", pa.float64()),
        ("text", pa.string()),
        ("reason", pa.string()),
    ]
)
REJECTED_SCHEMA = pa.schema(
    [
        ("score_id", pa.string()),
        ("question_id", pa.string()),
        ("s_l", pa.float64()),
        ("s_k", pa.float64()),
        ("label", pa.string()),
        ("reason", pa.string()),
    ]
)


def training_prompt(cfg: RunConfig) -> str:
    """The prompt the rows are trained under: the no-document prompt, or the explicitation prompt for
    inner-knowledge (whose answers are explicitation samples)."""
    if cfg.curate.strategy == "inner-knowledge":
        return cfg.answers.explicitation_prompt
    return cfg.answers.without_document_prompt


def keyed_settings(c: CurateConfig) -> dict[str, Any]:
    """The curate settings in the key. The default strategy keys a setting of another strategy only when it is set
    (its keys stayed as they were when the strategies came); any other strategy keys all its settings."""
    if c.strategy == CurateConfig.model_fields["strategy"].default:
        return result_settings(c)
    return c.model_dump(mode="json")


def plan(cfg: RunConfig, scores: ArtifactRef, answers: ArtifactRef) -> StagePlan:
    prompt = load_prompt(training_prompt(cfg))
    return make_plan(
        STAGE,
        VERSION,
        {"curate": keyed_settings(cfg.curate), "seed": cfg.seed},
        [scores, answers],
        [],
        [prompt.manifest_entry()],
    )


def curate_rows(cfg: RunConfig, key: str, score: dict[str, Any], answer: dict[str, Any]) -> dict[str, list[dict]]:
    """{'data': pairs, 'sft': rows, 'rejected': [row] or []} for one train question."""
    outcome = curate_with(cfg.curate, score, answer)
    strategy = cfg.curate.pair_strategy if cfg.curate.strategy == "knowledge-detection" else cfg.curate.strategy
    base = {k: score[k] for k in ("score_id", "question_id", "s_l", "s_k")}
    prompt = load_prompt(training_prompt(cfg)).messages(question=answer["question"])
    pairs = [
        {
            **base,
            "pair_id": "pair-" + stable_hash([key, score["score_id"], i]),
            "answer_id": answer["answer_id"],
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": chosen.text}],
            "rejected": [{"role": "assistant", "content": rejected.text}],
            "chosen_score": chosen.score,
            "rejected_score": rejected.score,
            "label": outcome.label,
            "strategy": strategy,
            "pair_index": i,
            "chosen_sample_index": chosen.index,
            "rejected_sample_index": rejected.index,
        }
        for i, (chosen, rejected) in enumerate(outcome.pairs)
    ]
    sft = [
        {
            **base,
            # the first row's id is the one a question's single SFT row always had
            "sft_id": "sft-" + stable_hash([key, score["score_id"]] + ([i] if i else [])),
            "answer_id": answer["answer_id"],
            "sample_index": trained.index,
            "label": outcome.label,
            "messages": prompt + [{"role": "assistant", "content": trained.text}],
        }
        for i, trained in enumerate(outcome.sft)
    ]
    used = pairs or (sft and cfg.curate.strategy in SFT_ONLY)
    rejected = [] if used else [{**base, "label": outcome.label, "reason": outcome.reason}]
    samples = [
        {"score_id": score["score_id"], "answer_id": answer["answer_id"], "question_id": score["question_id"],
         "sample_index": sample.index, "score": sample.score, "text": sample.text, "reason": reason}
        for sample, reason in outcome.dropped
    ]  # fmt: skip
    return {"data": pairs, "sft": sft, "rejected": rejected, "rejected_samples": samples}


def scored_answers(store: ArtifactStore, plan: StagePlan) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(score, answer) row pairs in the score table's order, both tables read shard by shard: the score stage writes
    its rows in the answers' order, so only the answers read ahead of their scores are held (no token logprobs:
    curation reads texts only)."""
    texts = answers_stage.text_column
    answers = (a for table in store.iter_tables(plan.parent("answers"), columns=texts) for a in table.to_pylist())
    ahead: dict[str, dict[str, Any]] = {}
    for table in store.iter_tables(plan.parent("score")):
        for score in table.to_pylist():
            while score["answer_id"] not in ahead:
                answer = next(answers, None)
                if answer is None:
                    raise StageInputError(f"curate: score row {score['score_id']} names an answer the answers lack")
                ahead[answer["answer_id"]] = answer
            yield score, ahead.pop(score["answer_id"])


def run(
    cfg: RunConfig,
    plan: StagePlan,
    store: ArtifactStore,
    run_info: RunInfo,
    log: Callable[[str], None] = print,
) -> ArtifactRef:
    def compute(writer):
        curated = [curate_rows(cfg, plan.key, s, a) for s, a in scored_answers(store, plan) if s["split"] == "train"]
        eligible = len({r["question_id"] for q in curated for r in q["data"] + q["sft"]})
        curated = apply_budget(curated, cfg.curate.max_questions, cfg.seed)
        tables: dict[str, list[dict]] = {"data": [], "sft": [], "rejected": [], "rejected_samples": []}
        labels: Counter = Counter()
        for rows in curated:
            for name, part in rows.items():
                tables[name].extend(part)
            labels[(rows["data"] or rows["rejected"] or rows["sft"])[0]["label"]] += 1
        writer.write_table("data", pa.Table.from_pylist(tables["data"], schema=PAIR_SCHEMA))
        writer.write_table("sft", pa.Table.from_pylist(tables["sft"], schema=SFT_SCHEMA))
        writer.write_table("rejected", pa.Table.from_pylist(tables["rejected"], schema=REJECTED_SCHEMA))
        if cfg.curate.strategy == "rejection-sampling":
            samples = pa.Table.from_pylist(tables["rejected_samples"], schema=SAMPLE_REJECTED_SCHEMA)
            writer.write_table("rejected_samples", samples)
        settings = cfg.curate.model_dump(mode="json")  # every setting, also those a key leaves out at default
        counts = {"questions": sum(labels.values()), "pairs": len(tables["data"]), "sft": len(tables["sft"])}
        if cfg.curate.max_questions is not None:
            over = len({r["question_id"] for r in tables["rejected"] if r["reason"] == "over_budget"})
            counts |= {"eligible": eligible, "over_budget": over}
        return {
            "thresholds": {k: settings[k] for k in GATE_THRESHOLDS},
            "strategy": {k: v for k, v in settings.items() if k not in GATE_THRESHOLDS},
            "drops": dict(Counter(r["reason"] for r in tables["rejected"])),
            "labels": dict(labels),
            "counts": counts,
        }

    return execute(plan, store, run_info, compute, log)
