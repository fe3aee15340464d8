"""Per-model threshold calibration: sweep S_L / S_K thresholds and show the data size and the scorer's precision.

The truth the scorer is measured against is independent of it: a no-document sample is `wrong` when its token F1
against the grounded reference is below `wrong_f1` (SQuAD normalisation), and a question is truly `unknown` when
at least half of its no-document samples are wrong. For each (answerable, known) threshold pair:
- pairs / sft: what curate would write (train questions, the configured strategy);
- flagged: answerable questions the scorer calls unknown (S_K < known); precision: the share of them truly
  unknown; recall: the share of truly unknown answerable questions it flags (all splits, for more data);
- rejected_wrong: the share of the rejected answers of those pairs that are wrong.
Questions with a NaN or infinite score are left out (curate never trains them); the swept thresholds obey the
config's bounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from selftrain_core.config.loading import format_validation_error
from selftrain_core.errors import ConfigError, StageInputError
from selftrain_core.stages.curate.config import CurateConfig
from selftrain_core.stages.curate.pairs import curate_question, finite_scores
from selftrain_core.stages.evaluate.metrics import auroc, token_f1

WRONG_F1 = 0.3


def sample_wrong(sample: str, reference: str, wrong_f1: float = WRONG_F1) -> bool:
    return token_f1(sample, reference) < wrong_f1


def truly_unknown(answer: dict[str, Any], wrong_f1: float = WRONG_F1) -> bool:
    samples = answer["no_doc"]
    wrong = sum(sample_wrong(s, answer["reference"], wrong_f1) for s in samples)
    return bool(samples) and wrong >= len(samples) / 2


@dataclass(frozen=True)
class Calibration:
    rows: list[dict[str, Any]]
    questions: int  # scored questions (all splits)
    unknown_rate: float  # share truly unknown
    auroc: float  # of 1 - S_K for truly unknown
    wrong_f1: float


def default_known_grid(s_k: Sequence[float], configured: float, points: int = 10) -> list[float]:
    low, high = np.quantile(s_k, [0.05, 0.95]) if len(s_k) else (0.0, 1.0)
    grid = {round(float(v), 2) for v in np.linspace(low, high, points)} | {configured}
    return sorted(grid)


def with_thresholds(curate: CurateConfig, answerable: float, known: float) -> CurateConfig:
    """`curate` with one swept threshold pair, validated like a config (a ConfigError names the bad threshold)."""
    try:
        return CurateConfig.model_validate(
            curate.model_dump() | {"answerable_threshold": answerable, "known_threshold": known}
        )
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def sweep(
    curate: CurateConfig,
    scores: list[dict[str, Any]],
    answers: dict[str, dict[str, Any]],
    known: Sequence[float] | None = None,
    answerable: Sequence[float] | None = None,
    wrong_f1: float = WRONG_F1,
) -> Calibration:
    scores = [s for s in scores if finite_scores(s)]
    if not scores:
        raise StageInputError("the score artifact has no rows with finite scores to calibrate on")
    truth = {s["score_id"]: truly_unknown(answers[s["answer_id"]], wrong_f1) for s in scores}
    known = list(known) if known else default_known_grid([s["s_k"] for s in scores], curate.known_threshold)
    answerable = list(answerable) if answerable else [curate.answerable_threshold]
    rows = []
    for a in answerable:
        for k in known:
            cfg = with_thresholds(curate, a, k)
            kept = [s for s in scores if s["s_l"] >= a]
            flagged = [s for s in kept if s["s_k"] < k]
            hits = sum(truth[s["score_id"]] for s in flagged)
            unknown_kept = sum(truth[s["score_id"]] for s in kept)
            pairs, sft, rejected_wrong = 0, 0, 0
            for s in scores:
                if s["split"] != "train":
                    continue
                answer = answers[s["answer_id"]]
                outcome = curate_question(cfg, s, answer)
                pairs += len(outcome.pairs)
                sft += len(outcome.sft)
                rejected_wrong += sum(sample_wrong(r.text, answer["reference"], wrong_f1) for _, r in outcome.pairs)
            rows.append(
                {
                    "answerable_threshold": a,
                    "known_threshold": k,
                    "answerable": len(kept),
                    "flagged": len(flagged),
                    "precision": hits / len(flagged) if flagged else float("nan"),
                    "recall": hits / unknown_kept if unknown_kept else float("nan"),
                    "pairs": pairs,
                    "sft": sft,
                    "rejected_wrong": rejected_wrong / pairs if pairs else float("nan"),
                }
            )
    labels = [truth[s["score_id"]] for s in scores]
    return Calibration(
        rows,
        questions=len(scores),
        unknown_rate=float(np.mean(labels)),
        auroc=auroc([1.0 - s["s_k"] for s in scores], labels),
        wrong_f1=wrong_f1,
    )
