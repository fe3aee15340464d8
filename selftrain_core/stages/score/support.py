"""Verifying the model's explicitations against the document: SKE-Learn's verification step (Huang et al.,
"Empowering Self-Learning of LLMs: Inner Knowledge Explicitation as a Catalyst", AAAI 2025), with the document
as the evidence.

For each `explicit` sample of an answers row (stages/answers/explicitation.py), two numbers in [0, 1]:
- `explicit_support`: how well the document supports the knowledge the model wrote, claim by claim: each
  knowledge sentence is scored against the document and the sample gets its least supported sentence's score
  (one unsupported claim is enough to fail verification). score.explicitation_support=embedding: a sentence's
  score is its highest cosine with a document sentence; nli: the NLI model's P(entailment | document, sentence)
  (1 - P(contradiction) for a checkpoint without an entailment class). No knowledge written, or no document: 0.
  Each document's sentences are embedded once per question, not once per sample.
- `explicit_scores`: the embedding agreement of the sample's answer (after "Answer:") with the grounded
  reference, as the default scorer measures agreement. No answer written: 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from selftrain_core.scorers.embedding_agreement import EmbeddingAgreement
from selftrain_core.scorers.models import ScorerModels
from selftrain_core.scorers.text import split_sentences
from selftrain_core.stages.answers.explicitation import split_explicitation

VERSION = 1
COLUMNS = [("explicit_support", pa.list_(pa.float64())), ("explicit_scores", pa.list_(pa.float64()))]


def support_roles(method: str) -> tuple[str, ...]:
    """The scorer models verification needs: the embedder always (answer agreement), the NLI model for nli."""
    return ("embedder", "nli") if method == "nli" else ("embedder",)


def _embedding_support(agreement: EmbeddingAgreement, claims: list[list[str]], passages: list[str]) -> list[float]:
    documents = {p: split_sentences(p) for p in dict.fromkeys(passages)}  # each document once
    groups = claims + list(documents.values())
    flat = [s for group in groups for s in group]
    vectors = agreement.embed(flat) if flat else np.zeros((0, 1))
    embedded, start = [], 0
    for group in groups:
        embedded.append(vectors[start : start + len(group)])
        start += len(group)
    by_passage = dict(zip(documents, embedded[len(claims) :], strict=True))
    out = []
    for c, passage in zip(embedded[: len(claims)], passages, strict=True):
        d = by_passage[passage]
        out.append(float(np.clip((c @ d.T).max(axis=1), 0.0, 1.0).min()) if len(c) and len(d) else 0.0)
    return out


def _nli_support(models: ScorerModels, claims: list[list[str]], passages: list[str]) -> list[float]:
    claims = [group if passage.strip() else [] for group, passage in zip(claims, passages, strict=True)]
    pairs = [(passage, claim) for group, passage in zip(claims, passages, strict=True) for claim in group]
    entailed = models.nli.entailment(pairs)
    out, start = [], 0
    for group in claims:
        out.append(float(entailed[start : start + len(group)].min()) if group else 0.0)
        start += len(group)
    return out


def verify(
    models: ScorerModels, method: str, answers: Sequence[dict[str, Any]], passages: dict[str, str]
) -> list[dict[str, list[float]]]:
    """Per answers row: its explicit samples' support by the document and their answers' agreement with the
    reference (the two columns of COLUMNS)."""
    agreement = EmbeddingAgreement(models.embedder, models.embedder_batch_size)
    parts = [[split_explicitation(text) for text in a["explicit"]] for a in answers]
    claims = [split_sentences(p.knowledge) for row in parts for p in row]
    passage_of = [passages.get(a["chunk_id"], "") for a in answers for _ in a["explicit"]]
    if method == "nli":
        support = _nli_support(models, claims, passage_of)
    else:
        support = _embedding_support(agreement, claims, passage_of)
    scores = agreement.score_many([a["reference"] for a in answers], [[p.answer for p in row] for row in parts])
    out, start = [], 0
    for row, row_scores in zip(parts, scores, strict=True):
        rounded = [round(max(v, 0.0), 6) for v in row_scores]
        out.append(
            {"explicit_support": [round(v, 6) for v in support[start : start + len(row)]], "explicit_scores": rounded}
        )
        start += len(row)
    return out
