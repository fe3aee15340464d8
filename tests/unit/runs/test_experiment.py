"""The experiment's pure parts: grids, settings, choosing a variant, and the ablation arms' configs."""

from __future__ import annotations

import pytest

from selftrain_core.config import RunConfig
from selftrain_core.errors import ConfigError
from selftrain_core.runs.experiment import (
    ablation_configs,
    expand_grid,
    for_documents,
    parse_grid,
    parse_variant,
    pick_best,
    sweep_table,
    sweep_variants,
    with_settings,
)


def test_a_grid_expands_to_every_combination_in_a_stable_order():
    grid = parse_grid(["train.method=dpo,sft", "train.learning_rate=0.0002,0.001"])
    assert grid == {"train.method": ["dpo", "sft"], "train.learning_rate": [0.0002, 0.001]}
    variants = expand_grid(grid)
    assert len(variants) == 4 and variants[0] == {"train.learning_rate": 0.0002, "train.method": "dpo"}
    assert expand_grid({}) == [{}], "no grid: the config as it is"
    with pytest.raises(ConfigError, match="section.field=value"):
        parse_grid(["train.method"])


def test_listed_variants_are_kept_as_given_and_exclude_a_grid():
    listed = [parse_variant("train.method=sft train.sft_num_epochs=3"), parse_variant("train.method=dpo")]
    assert listed == [{"train.method": "sft", "train.sft_num_epochs": 3}, {"train.method": "dpo"}]
    assert sweep_variants(None, listed) == listed
    assert sweep_variants({"train.method": ["dpo", "sft"]}, None) == [{"train.method": "dpo"}, {"train.method": "sft"}]
    assert sweep_variants(None, None) == [{}]
    with pytest.raises(ConfigError, match="not both"):
        sweep_variants({"train.method": ["dpo"]}, listed)
    with pytest.raises(ConfigError, match="section.field=value"):
        parse_variant("train.method")
    with pytest.raises(ConfigError, match="at least one"):
        parse_variant("   ")


def test_settings_are_validated_and_name_the_field():
    cfg = with_settings(RunConfig(), {"train.method": "sft", "train.num_epochs": 3})
    assert (cfg.train.method, cfg.train.num_epochs) == ("sft", 3)
    with pytest.raises(ConfigError, match="train.method"):
        with_settings(RunConfig(), {"train.method": "ppo"})
    assert for_documents(cfg, "report").evaluate.documents == "report"


def row(set_name, model, value):
    return {"set": set_name, "model": model, "metric": "correct", "value": value, "ci_low": value - 0.1,
            "ci_high": value + 0.1, "n": 40}  # fmt: skip


def test_the_best_variant_has_the_largest_mean_gain_over_the_selection_sets():
    metrics = [row("train_new", "v0-base", 0.05), row("gold_train", "v0-base", 0.05)]
    metrics += [row("train_new", "v1-base", 0.20), row("gold_train", "v1-base", -0.02)]
    metrics += [row("held_out", "v0-base", -0.5), row("held_out", "v1-base", 0.9)]  # not a selection set
    assert pick_best(metrics, ["v0", "v1"]) == "v1"
    assert pick_best(metrics, ["v0", "v1"], sets=("gold_train",)) == "v0"
    table = sweep_table([{"train.method": "dpo"}, {"train.method": "sft"}], metrics, "correct", "v1")
    assert "| v1 (chosen) | train.method=sft |" in table and "+0.200 [+0.100, +0.300]" in table


def test_the_ablation_arms_differ_from_the_method_only_as_specified():
    method = with_settings(RunConfig(), {"train.method": "sft-then-dpo", "train.learning_rate": 0.001})
    arms = ablation_configs(method, budget=37)
    assert list(arms) == ["method", "no_filter", "sft_only"]
    no_filter, sft_only = arms["no_filter"], arms["sft_only"]
    assert (no_filter.curate.knowledge_filter, no_filter.curate.max_questions) == (False, 37)
    assert no_filter.train == method.train, "same training settings, other data"
    assert sft_only.curate == method.curate and sft_only.train.method == "sft"
    assert sft_only.train.learning_rate == 0.001
    assert "sft_only" not in ablation_configs(with_settings(RunConfig(), {"train.method": "sft"}), 5)
