"""A model card per evaluated arm, carrying the evidence: its evaluation on every set (Hub `model-index` results
with intervals, base value and paired difference) and its training data's lineage (dataset artifact key, source and
revision, scorer and thresholds). Written into the evaluate artifact as `cards/<arm>/README.md`: the train
artifact is immutable and was written before its evaluation existed; `selftrain artifacts show` leads to both.
"""

from __future__ import annotations

from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from selftrain_core.config import RunConfig
from selftrain_core.stages.base import StagePlan
from selftrain_core.stages.evaluate.report import SETS, cell, verdict
from selftrain_core.store import ArtifactRef, ArtifactStore

TEMPLATE = """---
{{ card_data }}
---

# {{ title }}

A {{ method }} {{ finetune }} checkpoint of `{{ base }}` trained by selftrain on what the base model did not know
(knowledge detection: Yeo et al., Findings of EMNLP 2024), evaluated against the base on the same questions.

## Evaluation (evaluate artifact `{{ evaluate_key }}`)

Share of questions answered correctly, greedy, without the document; intervals are {{ level }}% bootstrap
intervals over questions, the difference is paired.

| set | questions | base | this model | difference | significant? |
|---|---|---|---|---|---|
{{ rows }}

## Training data lineage

- Train artifact: `train/{{ train_key }}`; dataset artifact: `curate/{{ curate_key }}` ({{ counts }})
- Source: `{{ source }}`, revision `{{ revision }}`; ingest artifact `ingest/{{ ingest_key }}`
- Knowledge scorer: `{{ scorer }}`; thresholds: {{ thresholds }}
- `selftrain lineage <pair id>` walks any training row back to its document span.
"""


def _parent(store: ArtifactStore, ref: ArtifactRef, stage: str) -> ArtifactRef:
    return next(ArtifactRef(**p) for p in store.manifest(ref.stage, ref.key)["parents"] if p["stage"] == stage)


def card_for(
    arm: str, train: ArtifactRef, store: ArtifactStore, plan: StagePlan, cfg: RunConfig, metrics: list[dict]
) -> str:
    train_manifest = store.manifest(train.stage, train.key)
    curate = _parent(store, train, "curate")
    curate_manifest = store.manifest(curate.stage, curate.key)
    score = _parent(store, curate, "score")
    ingest = _parent(store, plan.parent("chunk"), "ingest")
    ingest_manifest = store.manifest(ingest.stage, ingest.key)
    base = next(m for m in plan.models if m["role"] == "base")
    index = {(m["set"], m["model"], m["metric"]): m for m in metrics}
    sets = list(dict.fromkeys(m["set"] for m in metrics if (m["set"], arm, "correct") in index))
    results, rows = [], []
    for set_name in sets:
        mine, base_row = index[(set_name, arm, "correct")], index[(set_name, "base", "correct")]
        diff = index.get((set_name, f"{arm}-base", "correct"))
        results.append(
            EvalResult(
                task_type="question-answering",
                dataset_type=f"selftrain/{set_name}",
                dataset_name=SETS.get(set_name, set_name),
                dataset_split=set_name,
                dataset_revision=str(ingest_manifest.get("config", {}).get("source_fingerprint")),
                metric_type="accuracy",
                metric_name=f"correct ({set_name})",
                metric_value=round(mine["value"], 4),
                metric_args={
                    "n": mine["n"],
                    "ci_low": _round(mine["ci_low"]),
                    "ci_high": _round(mine["ci_high"]),
                    "base": round(base_row["value"], 4),
                    "difference": _round(diff["value"] if diff else None),
                    "difference_ci": [_round(diff["ci_low"]), _round(diff["ci_high"])] if diff else None,
                },
            )
        )
        cells = [set_name, str(mine["n"]), cell(base_row), cell(mine), cell(diff), verdict(diff, "correct")]
        rows.append("| " + " | ".join(cells) + " |")
    train_cfg = train_manifest["config"]["train"]
    data = ModelCardData(
        model_name=f"selftrain-{cfg.name}-{arm}",
        base_model=base.get("hub_id"),
        library_name="peft" if train_manifest.get("checkpoint", {}).get("kind", "adapter") == "adapter" else None,
        tags=["selftrain", "trl", *train_cfg["method"].split("-then-")],
        eval_results=results or None,
    )
    curate_cfg = curate_manifest.get("config", {}).get("curate", {})
    card = ModelCard.from_template(
        data,
        template_str=TEMPLATE,
        title=f"selftrain {arm}: {train_cfg['method'].upper()} on {base['name']}",
        method=train_cfg["method"].upper(),
        finetune=train_cfg["finetune"],
        base=base["name"],
        evaluate_key=plan.key,
        level=int(cfg.evaluate.confidence * 100),
        rows="\n".join(rows),
        train_key=train.key,
        curate_key=curate.key,
        counts=", ".join(f"{v} {k}" for k, v in curate_manifest.get("counts", {}).items()),
        source=ingest_manifest.get("source", "?"),
        revision=ingest_manifest.get("config", {}).get("source_fingerprint"),
        ingest_key=ingest.key,
        scorer=store.manifest(score.stage, score.key).get("scorer", {}).get("id", "?"),
        thresholds={k: v for k, v in curate_cfg.items() if k.endswith("threshold") or k in ("knowledge_filter",)},
    )
    return str(card)


def _round(value: float | None) -> float | None:
    return None if value is None or value != value else round(value, 4)


def write_cards(writer, store: ArtifactStore, plan: StagePlan, cfg: RunConfig, metrics: list[dict[str, Any]]) -> None:
    train_refs = [p for p in plan.parents if p.stage == "train"]
    for arm, ref in zip(plan.settings["arms"], train_refs, strict=True):
        writer.write_bytes(f"cards/{arm}/README.md", card_for(arm, ref, store, plan, cfg, metrics).encode("utf-8"))
