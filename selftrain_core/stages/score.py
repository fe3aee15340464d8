"""Stage score: answers -> per question S_L, S_K and per-sample scores.

S_L (consistency with the document): mean agreement of the with-document samples with the reference; low means
the question is ambiguous or not answerable from the document. S_K (knowledge): mean agreement of the
no-document samples with the reference; low means the model does not know the answer on its own.
Columns: score_id, answer_id, question_id, split, s_l, s_k, with_doc_scores, no_doc_scores, scorer, scorer_version.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from selftrain_core.config import RunConfig
from selftrain_core.config_base import result_settings
from selftrain_core.hashing import stable_hash
from selftrain_core.models.loading import load_embedder
from selftrain_core.models.resolve import resolve_model
from selftrain_core.scorers import scorer_class
from selftrain_core.scorers.embedding_agreement import mean_score
from selftrain_core.stages.base import RunInfo, StagePlan, execute, make_plan
from selftrain_core.store import ArtifactRef, ArtifactStore

STAGE, VERSION = "score", 1

SCHEMA = pa.schema(
    [
        ("score_id", pa.string()),
        ("answer_id", pa.string()),
        ("question_id", pa.string()),
        ("split", pa.string()),
        ("s_l", pa.float64()),
        ("s_k", pa.float64()),
        ("with_doc_scores", pa.list_(pa.float64())),
        ("no_doc_scores", pa.list_(pa.float64())),
        ("scorer", pa.string()),
        ("scorer_version", pa.int32()),
    ]
)


def plan(cfg: RunConfig, answers: ArtifactRef) -> StagePlan:
    scorer = scorer_class(cfg.score.scorer)
    embedder = resolve_model(cfg.embedder.name, kind="embedder")
    settings = {"score": result_settings(cfg.score), "scorer_version": scorer.version}
    return make_plan(
        STAGE,
        VERSION,
        settings,
        [answers],
        [embedder.manifest_entry("embedder")],
        runtime={"embedder_batch_size": cfg.embedder.batch_size},
    )


def open_scorer(cfg: RunConfig):
    embedder = resolve_model(cfg.embedder.name, kind="embedder")
    return scorer_class(cfg.score.scorer)(load_embedder(embedder, cfg.model.device), cfg.embedder.batch_size)


def run(
    cfg: RunConfig,
    plan: StagePlan,
    store: ArtifactStore,
    run_info: RunInfo,
    log: Callable[[str], None] = print,
) -> ArtifactRef:
    def compute(writer):
        answers = store.read_rows(plan.parent("answers"))
        scorer = open_scorer(cfg)
        references = [a["reference"] for a in answers]
        with_doc = scorer.score_many(references, [a["with_doc"] for a in answers])
        no_doc = scorer.score_many(references, [a["no_doc"] for a in answers])
        rows = [
            {
                "score_id": "score-" + stable_hash([plan.key, a["answer_id"]]),
                "answer_id": a["answer_id"],
                "question_id": a["question_id"],
                "split": a["split"],
                "s_l": round(mean_score(w), 6),
                "s_k": round(mean_score(n), 6),
                "with_doc_scores": w,
                "no_doc_scores": n,
                "scorer": scorer.scorer_id,
                "scorer_version": scorer.version,
            }
            for a, w, n in zip(answers, with_doc, no_doc, strict=True)
        ]
        writer.write_table("data", pa.Table.from_pylist(rows, schema=SCHEMA))
        return {"scorer": {"id": scorer.scorer_id, "version": scorer.version}}

    return execute(plan, store, run_info, compute, log)
