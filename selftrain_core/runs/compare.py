"""One comparison of the curate strategies (issue 15): every strategy trained from the same source, questions and
samples (everything above curate is shared, and cached), evaluated together as arms of one evaluate artifact, so
every arm is paired against the same base answers on the same questions.

An arm's training method follows what its strategy makes: SFT-only strategies (rejection-sampling,
sft-references) train SFT; pair strategies train the config's method when it uses pairs, else DPO. self-rewarding
also scores with its judge (score.scorer=self-reward), so it has a score artifact of its own; inner-knowledge samples
explicitations (answers.explicitation), so it has its own answers and score artifacts.
"""

from __future__ import annotations

from typing import Any

from selftrain_core.config import RunConfig
from selftrain_core.errors import ConfigError
from selftrain_core.runs.experiment import with_settings
from selftrain_core.stages.curate.strategies import SFT_ONLY, STRATEGIES

# (set, metric) columns of the table: reference-graded sets by correctness, gold sets by the gold grade
COLUMNS = (
    ("held_out", "correct"),
    ("train_new", "correct"),
    ("gold_train", "gold_grade"),
    ("gold_held_out", "gold_grade"),
    ("held_out", "hallucinated"),
    ("known", "correct"),
)


# every arm compare can train: one per strategy (its name with '_'), and knowledge-detection without its filter
ARMS = tuple(s.replace("-", "_") for s in STRATEGIES) + ("no_filter",)


def strategy_configs(cfg: RunConfig, only: list[str] | None = None) -> dict[str, RunConfig]:
    """arm name -> its config: one arm per strategy, and knowledge-detection without its filter (the paper's
    ablation); `only` keeps the arms it names, in ARMS' order (all when None or empty)."""
    unknown = sorted(set(only or ()) - set(ARMS))
    if unknown:
        raise ConfigError(f"compare arms: {', '.join(unknown)} (the arms are {', '.join(ARMS)})")
    arms = {}
    for strategy in STRATEGIES:
        settings: dict[str, Any] = {"curate.strategy": strategy}
        if strategy in SFT_ONLY:
            settings["train.method"] = "sft"
        elif cfg.train.method == "sft":
            settings["train.method"] = "dpo"
        if strategy == "self-rewarding":
            settings["score.scorer"] = "self-reward"
        if strategy == "inner-knowledge":
            settings["answers.explicitation"] = True
        arms[strategy.replace("-", "_")] = with_settings(cfg, settings)
    arms["no_filter"] = with_settings(arms["knowledge_detection"], {"curate.knowledge_filter": False})
    return {name: arm for name, arm in arms.items() if not only or name in only}


def cell(index: dict[tuple[str, str, str], dict[str, Any]], set_name: str, model: str, metric: str) -> str:
    row = index.get((set_name, model, metric))
    if row is None or row["value"] is None:
        return ""
    if row.get("ci_low") is None:
        return f"{row['value']:+.3f}"
    return f"{row['value']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]"


def comparison_table(metrics: list[dict[str, Any]], trained: dict[str, dict[str, Any]]) -> str:
    """Markdown: one row per arm with its training rows and time, each column's paired difference against base
    (with its interval), and the judge's wins / ties / losses against base on held_out when it ran. An arm whose
    strategy found nothing to train on (`none` says why) says so."""
    index = {(m["set"], m["model"], m["metric"]): m for m in metrics}
    judged = any(m["model"].startswith("judge:") for m in metrics)
    head = ["arm", "method", "pairs", "sft rows", "train s"] + [f"{s} {m} - base" for s, m in COLUMNS]
    head += ["judge held_out win / tie / loss"] if judged else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for arm, train in trained.items():
        cells = [arm, train["method"], str(train["pairs"]), str(train["sft_rows"]), f"{train['seconds']:.0f}"]
        if "none" in train:  # nothing to train on: no model, no numbers
            cells += ["nothing to train"] + [""] * (len(COLUMNS) - 1 + judged)
            lines.append("| " + " | ".join(cells) + " |")
            continue
        cells += [cell(index, s, f"{arm}-base", m) for s, m in COLUMNS]
        if judged:
            cells.append(" / ".join(cell(index, "held_out", f"judge:{arm}", w) or "-" for w in ("win", "tie", "loss")))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
