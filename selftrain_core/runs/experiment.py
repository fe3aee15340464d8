"""The experiment of "Prove it": sweep training settings on one half of the documents, report on the other.

1. The stages up to score run once (cache). Each variant of the grid (a cartesian product of dotted settings,
   e.g. train.method x train.learning_rate) curates and trains from them: only what a variant changes recomputes.
2. All variants are evaluated as arms on the `select` half of the documents and the best is picked by the mean
   paired difference (arm - base) of `metric` over the selection sets.
3. The chosen setting ("method"), the same budget without knowledge filtering ("no_filter": every answerable
   question may be trained on, at most as many questions as the method trained on) and SFT only ("sft_only", the
   method's data and settings with train.method=sft) are evaluated as arms on the `report` half, which chose
   nothing. This module is Prefect-free; flows/experiment.py runs it.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from selftrain_core.config import RunConfig
from selftrain_core.config.loading import apply_override, build_run_config
from selftrain_core.errors import ConfigError
from selftrain_core.store import ArtifactRef, ArtifactStore

SELECTION_SETS = ("train_new", "gold_train")


def expand_grid(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in a stable order ({} gives one variant: the config as it is)."""
    names = sorted(grid)
    for name in names:
        if not grid[name]:
            raise ConfigError(f"grid setting {name} has no values")
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*(grid[n] for n in names))]


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """['train.method=dpo,sft', 'train.learning_rate=0.0002,0.001'] -> {name: [values]} (values parsed as YAML)."""
    grid: dict[str, list[Any]] = {}
    for text in items:
        if "=" not in text:
            raise ConfigError(f"grid entry {text!r} must look like section.field=value1,value2")
        name, values = text.split("=", 1)
        probe: dict[str, Any] = {}
        grid[name.strip()] = []
        for raw in values.split(","):
            apply_override(probe, f"v={raw.strip()}")
            grid[name.strip()].append(probe["v"])
    return grid


def parse_variant(text: str) -> dict[str, Any]:
    """'train.method=sft train.sft_num_epochs=3' -> one variant {name: value} (values parsed as YAML).

    A grid's product trains settings that do not apply (an SFT learning rate under DPO); listed variants do not."""
    variant: dict[str, Any] = {}
    for item in text.split():
        if "=" not in item:
            raise ConfigError(f"variant entry {item!r} must look like section.field=value")
        name, raw = item.split("=", 1)
        probe: dict[str, Any] = {}
        apply_override(probe, f"v={raw}")
        variant[name.strip()] = probe["v"]
    if not variant:
        raise ConfigError("a variant needs at least one section.field=value")
    return variant


def sweep_variants(grid: dict[str, list[Any]] | None, variants: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The variants to compare: those listed, or the grid's product; not both (which would be ambiguous)."""
    if grid and variants:
        raise ConfigError("give a grid or a list of variants, not both")
    return list(variants) if variants else expand_grid(grid or {})


def with_settings(cfg: RunConfig, settings: dict[str, Any]) -> RunConfig:
    """`cfg` with dotted settings applied, validated (a bad value fails here, naming the field)."""
    data = cfg.model_dump(mode="json")
    for name, value in settings.items():
        *sections, field = name.split(".")
        node = data
        for section in sections:
            if not isinstance(node.get(section), dict):
                raise ConfigError(f"grid setting {name}: {section} is not a section")
            node = node[section]
        node[field] = value
    return build_run_config(data)


def variant_name(index: int) -> str:
    return f"v{index}"


def for_documents(cfg: RunConfig, which: str) -> RunConfig:
    return cfg.model_copy(update={"evaluate": cfg.evaluate.model_copy(update={"documents": which})})


def selection_score(metrics: list[dict[str, Any]], arm: str, metric: str, sets: tuple[str, ...]) -> float:
    values = [
        m["value"]
        for m in metrics
        if m["model"] == f"{arm}-base" and m["metric"] == metric and m["set"] in sets and m["value"] is not None
    ]
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else float("-inf")


def pick_best(
    metrics: list[dict[str, Any]], arms: list[str], metric: str = "correct", sets: tuple[str, ...] = SELECTION_SETS
) -> str:
    """The arm with the largest mean paired difference over the selection sets (the first on a tie)."""
    return max(arms, key=lambda a: (selection_score(metrics, a, metric, sets), -arms.index(a)))


def trained_questions(store: ArtifactStore, curate: ArtifactRef) -> int:
    """How many questions the curate artifact trains on (with a pair or an SFT row)."""
    ids = set(store.read_table(curate, "data").column("question_id").to_pylist())
    ids |= set(store.read_table(curate, "sft").column("question_id").to_pylist())
    return len(ids)


def ablation_configs(method: RunConfig, budget: int) -> dict[str, RunConfig]:
    """The arms compared with the method on the same questions: no filtering on the same budget, SFT only."""
    arms = {"method": method}
    arms["no_filter"] = with_settings(method, {"curate.knowledge_filter": False, "curate.max_questions": budget})
    if method.train.method != "sft":
        arms["sft_only"] = with_settings(method, {"train.method": "sft"})
    return arms


def sweep_table(variants: list[dict[str, Any]], metrics: list[dict[str, Any]], metric: str, best: str) -> str:
    """Markdown: one row per variant with its settings and paired difference per set (selection half)."""
    sets = list(dict.fromkeys(m["set"] for m in metrics if m["model"].endswith("-base")))
    index = {(m["set"], m["model"], m["metric"]): m for m in metrics}
    lines = ["| variant | settings | " + " | ".join(f"{s} {metric} - base" for s in sets) + " |"]
    lines.append("|---|---|" + "---|" * len(sets))
    for i, settings in enumerate(variants):
        name = variant_name(i)
        cells = []
        for s in sets:
            row = index.get((s, f"{name}-base", metric))
            cells.append("" if row is None else f"{row['value']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]")
        label = ", ".join(f"{k}={v}" for k, v in settings.items()) or "(config as given)"
        lines.append(f"| {name}{' (chosen)' if name == best else ''} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
