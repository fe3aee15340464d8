"""Why was this row made? Walk a row's parent ids through the manifests' parents down to the document.

pair or SFT row -> score -> answers (the sample a row trained on: its sample index) -> question -> chunk (character
span) -> document (source and revision).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow.compute as pc

from selftrain_core.errors import ArtifactNotFoundError
from selftrain_core.store.artifact_store import ArtifactStore


@dataclass(frozen=True)
class Link:
    stage: str
    table: str
    id_column: str
    parent_column: str | None  # column holding the parent row's id
    parent_stage: str | None
    shown: tuple[str, ...]  # columns worth printing


LINKS: dict[str, Link] = {
    "pair-": Link(
        "curate",
        "data",
        "pair_id",
        "score_id",
        "score",
        ("label", "s_l", "s_k", "strategy", "chosen_sample_index", "rejected_sample_index", "rejected_score"),
    ),
    "sft-": Link("curate", "sft", "sft_id", "score_id", "score", ("label", "sample_index")),
    "score-": Link("score", "data", "score_id", "answer_id", "answers", ("s_l", "s_k", "scorer", "scorer_version")),
    "ans-": Link(
        "answers",
        "data",
        "answer_id",
        "question_id",
        "questions",
        ("reference", "backend", "model", "sampling", "seeds"),
    ),
    "q-": Link("questions", "data", "question_id", "chunk_id", "chunk", ("question", "generator", "prompt_id")),
    "chunk-": Link("chunk", "data", "chunk_id", "doc_id", "ingest", ("char_start", "char_end", "n_tokens")),
    "doc-": Link("ingest", "data", "doc_id", None, None, ("title", "source", "source_revision", "category", "split")),
}
BY_STAGE = {link.stage: link for prefix, link in LINKS.items() if prefix != "sft-"}


@dataclass
class LineageStep:
    stage: str
    key: str
    row_id: str
    fields: dict[str, Any]
    config: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


def _link_for(row_id: str) -> Link:
    for prefix, link in LINKS.items():
        if row_id.startswith(prefix):
            return link
    raise ArtifactNotFoundError(f"{row_id!r} is not a row id (ids start with {', '.join(LINKS)})")


def _find(store: ArtifactStore, link: Link, row_id: str, keys: list[str]) -> tuple[dict, dict]:
    for key in keys:
        table = store.read_table((link.stage, key), link.table)
        matches = table.filter(pc.equal(table[link.id_column], row_id)).to_pylist() if table.num_rows else []
        if matches:
            return store.manifest(link.stage, key), matches[0]
    raise ArtifactNotFoundError(f"no {link.stage} artifact under {store.url} holds row {row_id}")


def _step(link: Link, manifest: dict[str, Any], row: dict[str, Any]) -> LineageStep:
    extra = {}
    if link.stage == "curate":
        extra["thresholds"] = manifest.get("thresholds")
        extra["chosen"] = row.get("chosen", [{}])[0].get("content") if row.get("chosen") else None
        extra["rejected"] = row.get("rejected", [{}])[0].get("content") if row.get("rejected") else None
    return LineageStep(
        stage=link.stage,
        key=manifest["key"],
        row_id=row[link.id_column],
        fields={c: row.get(c) for c in link.shown},
        config=manifest.get("config", {}),
        extra=extra,
    )


def walk(store: ArtifactStore, row_id: str) -> list[LineageStep]:
    """The chain from `row_id` to its document, one step per stage."""
    link = _link_for(row_id)
    keys = [m["key"] for m in store.list(link.stage)]
    manifest, row = _find(store, link, row_id, keys)
    steps = [_step(link, manifest, row)]
    while link.parent_stage is not None:
        parent_id = row[link.parent_column]
        parent_key = next(p["key"] for p in manifest["parents"] if p["stage"] == link.parent_stage)
        link = BY_STAGE[link.parent_stage]
        manifest, row = _find(store, link, parent_id, [parent_key])
        steps.append(_step(link, manifest, row))
    return steps
