"""The scorers bench/scorers.py measures, and one timed run of each over the same inputs."""

from __future__ import annotations

import sys
import time
from collections import Counter

import numpy as np

from selftrain_core.config import RunConfig
from selftrain_core.models.resolve import resolve_model
from selftrain_core.scorers import scorer_class
from selftrain_core.stages.score.stage import open_models

VARIANTS = [  # (row name, score settings)
    ("predictive-entropy", {"scorer": "predictive-entropy"}),
    ("embedding-agreement", {"scorer": "embedding-agreement"}),
    ("semantic-entropy (embedding clusters)", {"scorer": "semantic-entropy"}),
    ("bsdetector (embedding consistency)", {"scorer": "bsdetector"}),
    ("selfcheck-prompt (policy LLM, Yes/No prob)", {"scorer": "selfcheck-prompt"}),
    ("selfcheck-nli", {"scorer": "selfcheck-nli"}),
    ("semantic-entropy (NLI clusters)", {"scorer": "semantic-entropy", "consistency": "nli"}),
    ("bsdetector (NLI consistency)", {"scorer": "bsdetector", "consistency": "nli"}),
]
BASELINE = "predictive-entropy"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_scorers(
    cfg: RunConfig, inputs: list, nli: str | None, skip: set[str]
) -> tuple[dict[str, tuple | str], list[str]]:
    """Row name -> (per-sample wrongness, per-question unknownness, s/question), or why it was not measured."""
    resolved = {"embedder": resolve_model(cfg.embedder.name, kind="embedder"), "policy": resolve_model(cfg.model.name)}
    if nli:
        resolved["nli"] = resolve_model(nli, kind="nli")
    models = open_models(cfg, resolved)
    results, notes = {}, []
    for name, settings in VARIANTS:
        score_cfg = cfg.score.model_copy(update=settings)  # skips the NLI check: rows without a model are skipped
        cls = scorer_class(settings["scorer"])
        if any(role not in resolved for role in cls.roles(score_cfg)):
            results[name] = "not measured: needs a loadable NLI checkpoint (--nli)"
            continue
        if settings["scorer"] in skip:
            results[name] = "skipped in this run (--skip) to keep it short"
            continue
        scorer = cls.open(score_cfg, models)
        scorer.score(inputs[:2])  # load models outside the timing
        start = time.perf_counter()
        scored = scorer.score(inputs)
        seconds = (time.perf_counter() - start) / len(inputs)
        per_sample = [1.0 - np.array(r.per_sample) for r in scored]
        per_question = np.array([1.0 - r.score for r in scored])
        results[name] = (per_sample, per_question, seconds)
        if settings["scorer"] == "bsdetector":
            grades = Counter(r.details["grade"] or "unreadable" for r in scored)
            notes.append(f"{name}: the policy's self-reflection grades over {len(scored)} questions: {dict(grades)}.")
        log(f"{name}: {seconds:.3f} s/question")
    return results, notes
