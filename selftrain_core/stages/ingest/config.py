"""Ingest settings: where documents come from (one model per source kind) and the held-out split.

A source's JSON schema is shaped for Prefect's run form, which draws `anyOf` as buttons, one per option's title, above
the chosen option's fields, but draws `oneOf` as an empty JSON editor: so each kind has a title and a required `kind`
const, and the union is an `anyOf`. Validation is unchanged: pydantic still picks the model by `kind` (and refuses a
source without one), and as the consts differ at most one option matches. The form re-picks the option whose fields
best match the values (the first on a tie), ignoring consts: local's fields are a subset of hf-dataset's, so local
comes first."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from selftrain_core.config.base import KEYED_WHEN_SET, StrictModel


def source_schema(schema: dict[str, Any]) -> None:
    """`kind` required (it has a default in Python, but the discriminated union needs it in the input), and the
    shared gold columns drawn after the kind's own fields (the schema's order only: keys do not depend on it)."""
    schema["required"] = ["kind", *schema.get("required", [])]
    fields = schema["properties"]
    schema["properties"] = dict(sorted(fields.items(), key=lambda item: item[0] in GoldColumns.model_fields))


def any_of_kinds(schema: dict[str, Any]) -> None:
    schema["anyOf"] = schema.pop("oneOf")


class WikiVitalSource(StrictModel):
    model_config = ConfigDict(title="Wikipedia vital articles", json_schema_extra=source_schema)

    kind: Literal["wiki-vital"] = "wiki-vital"
    categories: list[str] = Field(
        [  # a default, not a default_factory, so the form shows the list (pydantic copies it for each model)
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
    model_config = ConfigDict(title="Hugging Face dataset", json_schema_extra=source_schema)

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
    model_config = ConfigDict(title="Local files", json_schema_extra=source_schema)

    kind: Literal["local"] = "local"
    path: str = Field(..., description="A .jsonl/.parquet/.txt/.md file, or a folder of them.")
    id_field: str = Field("id", description="JSONL/Parquet column holding a document id (else the row number).")
    title_field: str = Field("title", description="JSONL/Parquet column holding the title.")
    text_field: str = Field("text", description="JSONL/Parquet column holding the text.")
    category_field: str | None = Field("category", description="JSONL/Parquet column holding a category.")
    max_documents: int | None = Field(None, gt=0, description="Read at most this many documents.")


Source = Annotated[
    WikiVitalSource | LocalFilesSource | HFDatasetSource, Field(discriminator="kind", json_schema_extra=any_of_kinds)
]


class IngestConfig(StrictModel):
    source: Source = Field(default_factory=WikiVitalSource, description="Where documents come from.")
    test_fraction: float = Field(
        0.25, ge=0.0, lt=1.0, description="Share of documents held out for evaluation (split by document)."
    )
    split_rule: Literal["stratified", "stable"] = Field(
        "stratified",
        json_schema_extra=KEYED_WHEN_SET,
        description="stratified: exactly round(n * test_fraction) documents of each category held out; a document "
        "can change split when the corpus grows. stable: a document is held out when its seeded hash falls below "
        "test_fraction, so it keeps its split however the corpus grows (needed to continue an adapter on a "
        "growing corpus: retrain mode=continue).",
    )
