"""The document row every source produces, with its stable id and, where the source has one, a gold item.

A gold item is a question about the document and an answer that no model wrote (a column of the source, or the
wiki-vital corpus's one-line description of each article). Evaluation grades answers to it without any model.
"""

from __future__ import annotations

from typing import Any

from selftrain_core.errors import SourceError
from selftrain_core.hashing import stable_hash


def identity_question(title: str, category: str | None = None) -> str:
    """The question a gold answer that describes the document answers: 'Who was X?' for people, else 'What is X?'."""
    return f"Who was {title}?" if (category or "").lower() == "people" else f"What is {title}?"


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def make_document(
    source: str,
    native_id: str,
    title: str,
    text: Any,
    category: str | None,
    revision: str | None,
    gold_answer: Any = None,
    gold_question: Any = None,
) -> dict[str, Any]:
    """A document row; the id depends on the source and the document's own id only, so it is stable.

    With a gold answer and no gold question, the question is the identity question about the title."""
    if not isinstance(text, str) or not text.strip():
        raise SourceError(f"document {native_id!r} ({title!r}) from {source} has no text")
    if category is not None and not isinstance(category, str | int):
        raise SourceError(f"document {native_id!r} from {source}: category must be a string, got {category!r}")
    for name, value in (("gold answer", gold_answer), ("gold question", gold_question)):
        if value is not None and not isinstance(value, str):
            raise SourceError(f"document {native_id!r} from {source}: the {name} must be a string, got {value!r}")
    gold_answer = (gold_answer or "").strip() or None
    title = str(title or native_id)
    category = None if category is None else str(category)
    for name, value in (
        ("text", text),
        ("title", title),
        ("gold answer", gold_answer),
        ("gold question", gold_question),
    ):
        if isinstance(value, str) and not _encodable(value):
            raise SourceError(
                f"document {native_id!r} from {source}: the {name} holds a lone surrogate (an escape like \\ud800 "
                "that is half of a character), which is not text: fix the source's encoding"
            )
    if gold_answer is not None:
        gold_question = (gold_question or "").strip() or identity_question(title, category)
    return {
        "doc_id": "doc-" + stable_hash([source, native_id]),
        "source": source,
        "source_revision": revision,
        "native_id": str(native_id),
        "title": title,
        "category": category,
        "text": text.strip(),
        "gold_question": gold_question if gold_answer is not None else None,
        "gold_answer": gold_answer,
    }
