"""Ingest settings: where documents come from (one model per source kind) and the held-out split."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from selftrain_core.config.base import StrictModel


class WikiVitalSource(StrictModel):
    kind: Literal["wiki-vital"] = "wiki-vital"
    categories: list[str] = Field(
        default_factory=lambda: [
            "People",
            "History",
            "Geography",
            "Arts",
            "Philosophy and religion",
            "Everyday life",
            "Society and social sciences",
            "Biology and health sciences",
            "Physical sciences",
            "Technology",
            "Mathematics",
        ],
        description="Wikipedia vital-article categories to draw documents from.",
    )
    documents_per_category: int = Field(5, gt=0, description="Documents drawn (reproducibly) per category.")
    min_chars: int = Field(200, ge=0, description="Skip summaries shorter than this (too little to ask about).")


class GoldColumns(StrictModel):
    """The columns of a tabular source that hold a gold item (shared by the local and hf-dataset sources)."""

    gold_answer_field: str | None = Field(
        None,
        description="Column holding a gold answer about the document (no model wrote it); evaluation grades "
        "answers to the gold question by it. Empty: no gold item.",
    )
    gold_question_field: str | None = Field(
        None,
        description="Column holding the question the gold answer answers. Empty: the identity question "
        "('What is <title>?').",
    )


class HFDatasetSource(GoldColumns):
    kind: Literal["hf-dataset"] = "hf-dataset"
    path: str = Field(..., description="Dataset id on the hub (e.g. wikimedia/wikipedia) or a local dataset folder.")
    name: str | None = Field(None, description="Dataset configuration name (e.g. 20231101.en).")
    revision: str | None = Field(None, description="Dataset revision; recorded on every document.")
    split: str = Field("train", description="Dataset split to read.")
    id_field: str = Field("id", description="Column holding a document id.")
    title_field: str = Field("title", description="Column holding the title.")
    text_field: str = Field("text", description="Column holding the text.")
    category_field: str | None = Field(None, description="Column holding a category, if any.")
    max_documents: int = Field(100, gt=0, description="Read at most this many documents (streamed).")


class LocalFilesSource(GoldColumns):
    kind: Literal["local"] = "local"
    path: str = Field(..., description="A .jsonl/.parquet/.txt/.md file, or a folder of them.")
    id_field: str = Field("id", description="JSONL/Parquet column holding a document id (else the row number).")
    title_field: str = Field("title", description="JSONL/Parquet column holding the title.")
    text_field: str = Field("text", description="JSONL/Parquet column holding the text.")
    category_field: str | None = Field("category", description="JSONL/Parquet column holding a category.")
    max_documents: int | None = Field(None, gt=0, description="Read at most this many documents.")


Source = Annotated[WikiVitalSource | HFDatasetSource | LocalFilesSource, Field(discriminator="kind")]


class IngestConfig(StrictModel):
    source: Source = Field(default_factory=WikiVitalSource, description="Where documents come from.")
    test_fraction: float = Field(
        0.25, ge=0.0, lt=1.0, description="Share of documents held out for evaluation (split by document)."
    )
