"""Stage curate: scores (+ answers) -> DPO pairs and SFT rows for what the model does not know.

Train-split questions only. A question is dropped as `unanswerable` when S_L < answerable_threshold, labelled
`known` when S_K >= known_threshold, else `unknown`: a pair is made with the prompt without the document, chosen =
the grounded reference, rejected = the no-document sample that agrees least with it (TRL conversational format).
Rejected rows (`rejected` table) keep their reason: empty_reference, unanswerable, known, chosen_equals_rejected.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from selftrain_core.config import RunConfig
from selftrain_core.config_base import result_settings
from selftrain_core.hashing import stable_hash
from selftrain_core.prompts import load_prompt
from selftrain_core.stages.base import RunInfo, StagePlan, execute, make_plan
from selftrain_core.store import ArtifactRef, ArtifactStore

STAGE, VERSION = "curate", 2

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
        ("rejected_score", pa.float64()),
        ("label", pa.string()),
    ]
)
SFT_SCHEMA = pa.schema(
    [
        ("sft_id", pa.string()),
        ("score_id", pa.string()),
        ("question_id", pa.string()),
        ("messages", _MESSAGES),
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


def plan(cfg: RunConfig, scores: ArtifactRef, answers: ArtifactRef) -> StagePlan:
    prompt = load_prompt(cfg.answers.without_document_prompt)
    return make_plan(
        STAGE,
        VERSION,
        {"curate": result_settings(cfg.curate)},
        [scores, answers],
        [],
        [prompt.manifest_entry()],
    )


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def curate_one(cfg: RunConfig, key: str, score: dict[str, Any], answer: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """('pair', row) or ('rejected', row) for one train question."""
    c = cfg.curate
    label = "known" if score["s_k"] >= c.known_threshold else "unknown"
    base = {
        "score_id": score["score_id"],
        "question_id": score["question_id"],
        "s_l": score["s_l"],
        "s_k": score["s_k"],
        "label": label,
    }
    if not answer["reference"].strip():
        return "rejected", {**base, "reason": "empty_reference"}
    if score["s_l"] < c.answerable_threshold:
        return "rejected", {**base, "reason": "unanswerable"}
    if label == "known":
        return "rejected", {**base, "reason": "known"}
    candidates = [i for i, text in enumerate(answer["no_doc"]) if text.strip()]
    if not candidates:
        return "rejected", {**base, "reason": "empty_samples"}
    worst = min(candidates, key=lambda i: score["no_doc_scores"][i])
    rejected = answer["no_doc"][worst]
    if normalise(rejected) == normalise(answer["reference"]):
        return "rejected", {**base, "reason": "chosen_equals_rejected"}
    prompt = load_prompt(cfg.answers.without_document_prompt).messages(question=answer["question"])
    return "pair", {
        **{k: base[k] for k in ("score_id", "question_id", "s_l", "s_k", "label")},
        "pair_id": "pair-" + stable_hash([key, score["score_id"]]),
        "answer_id": answer["answer_id"],
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": answer["reference"]}],
        "rejected": [{"role": "assistant", "content": rejected}],
        "rejected_score": score["no_doc_scores"][worst],
    }


def run(
    cfg: RunConfig,
    plan: StagePlan,
    store: ArtifactStore,
    run_info: RunInfo,
    log: Callable[[str], None] = print,
) -> ArtifactRef:
    def compute(writer):
        answers = {a["answer_id"]: a for a in store.read_rows(plan.parent("answers"))}
        pairs, rejected = [], []
        for score in store.read_rows(plan.parent("score")):
            if score["split"] != "train":
                continue
            kind, row = curate_one(cfg, plan.key, score, answers[score["answer_id"]])
            (pairs if kind == "pair" else rejected).append(row)
        sft = [
            {
                "sft_id": "sft-" + stable_hash([plan.key, p["score_id"]]),
                "score_id": p["score_id"],
                "question_id": p["question_id"],
                "messages": p["prompt"] + p["chosen"],
            }
            for p in pairs
        ]
        writer.write_table("data", pa.Table.from_pylist(pairs, schema=PAIR_SCHEMA))
        writer.write_table("sft", pa.Table.from_pylist(sft, schema=SFT_SCHEMA))
        writer.write_table("rejected", pa.Table.from_pylist(rejected, schema=REJECTED_SCHEMA))
        labels = Counter(r["label"] for r in pairs + rejected)
        return {
            "thresholds": result_settings(cfg.curate),
            "drops": dict(Counter(r["reason"] for r in rejected)),
            "labels": dict(labels),
        }

    return execute(plan, store, run_info, compute, log)
