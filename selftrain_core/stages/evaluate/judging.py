"""The pairwise judge over the evaluation rows: each arm against base on `evaluate.judge.sets`, both orders
(judge.py, verdicts.py), with win/loss/tie shares and the judge's bias checks as metric rows."""

from __future__ import annotations

from typing import Any

from selftrain_core.backends.loading import open_backend
from selftrain_core.backends.served import ServedModel
from selftrain_core.backends.settings import GenerationSettings
from selftrain_core.backends.usage import usage_entry
from selftrain_core.config import RunConfig
from selftrain_core.models.resolve import ResolvedModel
from selftrain_core.stages.evaluate.judge import PairwiseJudge
from selftrain_core.stages.evaluate.summary import metric_row
from selftrain_core.stages.evaluate.verdicts import Comparison, judge_statistics


def judge_model(cfg: RunConfig) -> ResolvedModel | ServedModel:
    """The judge: the served model, evaluate.judge.model, or the policy model."""
    return GenerationSettings.for_judge(cfg).resolve()


def judge_rows(cfg: RunConfig, rows: list[dict[str, Any]], arms: list[str]):
    """(verdict rows, metric rows, verdicts asked this run, the judge's token usage), each arm against base."""
    j = cfg.evaluate.judge
    answer = {(r["set"], r["question_id"], r["model"]): r for r in rows}
    keys = sorted({(r["set"], r["question_id"]) for r in rows if r["set"] in j.sets})
    settings = GenerationSettings.for_judge(cfg)
    model, opened = settings.resolve(), []

    def backend():  # opened only when a verdict is not cached
        opened.append(open_backend(settings, model=model))
        return opened[-1]

    # Verdicts are cached per judge: the same weights through vLLM are another judge (other kernels, other bits).
    fingerprint = model.fingerprint if j.backend == "hf" else f"{j.backend}:{model.fingerprint}"
    judge = PairwiseJudge(backend, fingerprint, j.max_new_tokens, scoring=j.scoring)
    verdicts, metrics = [], []
    try:
        for arm in arms:
            for set_name in dict.fromkeys(s for s, _ in keys):
                ids = [q for s, q in keys if s == set_name]
                comparisons = []
                for q in ids:
                    base = answer[(set_name, q, "base")]
                    target = base["gold_answer"] if base["gold_answer"] is not None else base["reference"]
                    mine = answer[(set_name, q, arm)]["answer"]
                    comparisons.append(Comparison(q, base["question"], target, base["answer"], mine))
                found = judge.verdicts(comparisons)
                verdicts += [{"set": set_name, "arm": arm, **v} for v in found]
                name = f"judge:{arm}"
                for metric, who in (("win", "trained"), ("loss", "base"), ("tie", "tie")):
                    values = [float(v["outcome"] == who) for v in found]
                    metrics.append(metric_row(set_name, name, metric, values, cfg.evaluate, cfg.seed))
                stats = judge_statistics(comparisons, found)
                for metric in ("position_flip_rate", "first_position_rate", "longer_answer_preferred"):
                    metrics.append(fixed(set_name, name, metric, stats[metric], len(ids)))
                metrics.append(fixed(set_name, name, "invalid_verdicts", float(stats["invalid_verdicts"]), len(ids)))
    finally:
        for b in opened:
            b.close()
    usage = usage_entry(j.backend, model.name, opened[0].usage if opened else None, j.server)
    return verdicts, metrics, judge.asked, usage


def fixed(set_name: str, model: str, metric: str, value: float, n: int) -> dict[str, Any]:
    """A metric row without an interval (a count or a rate over decisive verdicts only)."""
    return {"set": set_name, "model": model, "metric": metric, "value": value, "ci_low": None, "ci_high": None,
            "n": n, "interval": "none"}  # fmt: skip
