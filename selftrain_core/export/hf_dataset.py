"""Export a curate artifact as a Hugging Face dataset on disk, with a dataset card written from the manifests.

Splits: `dpo` (prompt, chosen, rejected in TRL's conversational format, plus ids and scores) and `sft`
(messages). `datasets.load_from_disk(out_dir)` loads it; README.md beside it is the card: sources, models,
prompts, scorer, thresholds, strategy and counts, each read from the curate manifest and its ancestors'.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selftrain_core.config import STAGES
from selftrain_core.errors import ConfigError
from selftrain_core.store import ArtifactRef, ArtifactStore

SPLITS = {"dpo": "data", "sft": "sft"}


def ancestry(store: ArtifactStore, ref: ArtifactRef) -> dict[str, dict[str, Any]]:
    """stage -> manifest for `ref` and every artifact it was made from."""
    found, todo = {}, [ref]
    while todo:
        current = todo.pop()
        if current.stage in found:
            continue
        manifest = store.manifest(current.stage, current.key)
        found[current.stage] = manifest
        todo.extend(ArtifactRef(**p) for p in manifest.get("parents", []))
    return found


def _in_order(manifests: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(stage, manifest) in pipeline order (ingest first)."""
    return sorted(manifests.items(), key=lambda item: STAGES.index(item[0]) if item[0] in STAGES else len(STAGES))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def dataset_card(manifests: dict[str, dict[str, Any]], counts: dict[str, int]) -> str:
    from huggingface_hub import DatasetCardData

    curate = manifests["curate"]
    score = manifests.get("score", {})
    answers = manifests.get("answers", {})
    ingest = manifests.get("ingest", {})
    models = [m for stage in ("answers", "score") for m in manifests.get(stage, {}).get("models", [])]
    prompts = {p["prompt_id"]: p["sha256"] for m in manifests.values() for p in m.get("prompts", [])}
    meta = DatasetCardData(
        pretty_name=f"selftrain curated data ({curate['key']})",
        tags=["selftrain", "dpo", "sft", "knowledge-detection", "synthetic"],
        task_categories=["text-generation"],
        size_categories=["n<1K"] if max(counts.values(), default=0) < 1000 else ["1K<n<10K"],
    )
    lines = [
        "---",
        meta.to_yaml(),
        "---",
        f"# selftrain curated data `{curate['key']}`",
        "",
        "Preference pairs (`dpo`) and SFT rows (`sft`) for questions the model did not know, made by selftrain's",
        "self-training pipeline (Yeo et al. 2024, *Self-training LLMs through Knowledge Detection*).",
        "Load with `datasets.load_from_disk(<this folder>)`.",
        "",
        "## Counts",
        "",
        "| split | rows |",
        "| --- | --- |",
        *[f"| {name} | {n} |" for name, n in counts.items()],
        "",
        f"- labels of train questions: `{_json(curate.get('labels', {}))}`",
        f"- questions without a pair, by reason: `{_json(curate.get('drops', {}))}`",
        "",
        "## Curation",
        "",
        f"- thresholds: `{_json(curate.get('thresholds', {}))}` (S_L below answerable: dropped; S_K at or above "
        "known: known, no pair)",
        f"- pair strategy: `{_json(curate.get('strategy', {}))}`",
        f"- scorer: `{_json({k: v for k, v in score.get('scorer', {}).items() if k != 'models'})}`, "
        f"settings `{_json(score.get('config', {}).get('score', {}))}`",
        "",
        "## Sources",
        "",
        f"- documents: `{_json(ingest.get('config', {}).get('ingest', ingest.get('config', {})))}`",
        f"- sampling: `{_json(answers.get('config', {}).get('answers', {}))}`",
        "",
        "## Models",
        "",
        "| role | name | fingerprint | hub id |",
        "| --- | --- | --- | --- |",
        *[f"| {m['role']} | {m['name']} | `{m['fingerprint']}` | {m.get('hub_id') or ''} |" for m in models],
        "",
        "## Prompts",
        "",
        *[f"- `{pid}` sha256 `{sha}`" for pid, sha in sorted(prompts.items())],
        "",
        "## Lineage",
        "",
        "| stage | artifact key | created |",
        "| --- | --- | --- |",
        *[f"| {stage} | `{m['key']}` | {m.get('created_at', '')} |" for stage, m in _in_order(manifests)],
        "",
        "Every row keeps its `question_id` and `score_id`; `selftrain lineage <pair_id>` walks it to its document.",
        "",
    ]
    return "\n".join(lines)


def export_dataset(store: ArtifactStore, curate: ArtifactRef, out_dir: str | Path) -> dict[str, int]:
    """Write the DatasetDict and README.md into `out_dir`; returns rows per split."""
    import datasets
    from huggingface_hub import DatasetCard

    if curate.stage != "curate":
        raise ConfigError(f"export needs a curate artifact, got {curate.stage}/{curate.key}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"export folder {out} is not empty; choose a new folder")
    splits = {name: datasets.Dataset(store.read_table(curate, table)) for name, table in SPLITS.items()}
    dataset = datasets.DatasetDict(splits)
    dataset.save_to_disk(str(out))
    counts = {name: split.num_rows for name, split in splits.items()}
    DatasetCard(dataset_card(ancestry(store, curate), counts)).save(out / "README.md")
    return counts
